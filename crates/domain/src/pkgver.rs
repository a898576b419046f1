//! Package version ordering as each Linux distribution's package manager
//! defines it, and OSV's range evaluation on top of it.
//!
//! This module exists because matching an installed package against an OSV
//! advisory's `ECOSYSTEM` ranges is only as good as the version comparison
//! behind it, and every distribution orders versions its own way: `1.0~rc1`
//! is older than `1.0` for dpkg and rpm, `1.0_rc1` is older than `1.0` for
//! apk, `1.0a` is newer than `1.0` but older than `1.0.1` for rpm, `1:0.9` is
//! newer than `2.0` for dpkg. A generic "semver-ish" comparison gets these
//! wrong, and every wrong answer is either a missed vulnerability or a false
//! alarm. So each scheme here is a port of the package manager's own
//! algorithm, pinned by that project's own test tables:
//!
//! - [`dpkg_compare`]: Debian Policy §5.6.12, as `dpkg` implements it
//!   (`lib/dpkg/version.c`);
//! - [`rpm_compare`] and [`rpmvercmp`]: rpm's `rpmvercmp` with tilde and
//!   caret, over `[epoch:]version[-release]` split as `rpm` splits it;
//! - [`apk_compare`]: apk-tools' `src/version.c` (the token grammar with
//!   `_alpha` … `_p` suffixes, `~hash` and `-rN`).
//!
//! [`scheme_for_ecosystem`] maps OSV ecosystem names to a scheme the way
//! osv.dev does; [`in_range`] and [`affected_by_events`] apply the OSV
//! schema's evaluation algorithm (with `introduced: "0"` as "from the
//! beginning" and `limit: "*"` as infinity).
//!
//! Every comparison is total and never panics. Installed-package inventories
//! and advisory feeds are both outside input, and one odd string must not
//! stop a scan, so a malformed version gets a deterministic place in the
//! order (documented on each function) instead of an error. `Equal` means
//! "the same version to that package manager", not "the same string": dpkg
//! has `1.0 == 1.00`, rpm has `2.0 == 2_0`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A version-ordering scheme: the package manager whose rules decide which of
/// two versions of a package is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian's `dpkg`: `[epoch:]upstream_version[-debian_revision]`.
    /// Used by Debian, Ubuntu and Echo.
    Dpkg,
    /// RPM: `[epoch:]version[-release]`, compared with `rpmvercmp`. Used by
    /// Red Hat, Rocky Linux, AlmaLinux, SUSE, openSUSE, Mageia and openEuler.
    Rpm,
    /// Alpine's apk-tools: `digits{.digits}[letter]{_suffix[N]}[~hash][-rN]`.
    /// Used by Alpine, Wolfi, Chainguard, Alpaquita, MinimOS and BellSoft
    /// Hardened Containers.
    Apk,
}

/// The version scheme of an OSV `affected[].package.ecosystem` string, or
/// `None` when the ecosystem is not a Linux distribution this module orders.
///
/// Only the part before the first `:` is looked at, so release-scoped names
/// such as `Debian:12`, `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`,
/// `Alpine:v3.19` or `Red Hat:rhel_aus:8.4::appstream` map like their base
/// name. Names are matched exactly (OSV ecosystem names are case-sensitive),
/// and the mapping is osv.dev's own (`osv/ecosystems/_ecosystems.py`).
pub fn scheme_for_ecosystem(osv_ecosystem: &str) -> Option<Scheme> {
    let base = osv_ecosystem.split_once(':').map_or(osv_ecosystem, |(base, _)| base);
    match base {
        "Debian" | "Ubuntu" | "Echo" => Some(Scheme::Dpkg),
        "AlmaLinux" | "Mageia" | "openEuler" | "openSUSE" | "Red Hat" | "Rocky Linux" | "SUSE" => Some(Scheme::Rpm),
        "Alpaquita" | "Alpine" | "BellSoft Hardened Containers" | "Chainguard" | "MinimOS" | "Wolfi" => {
            Some(Scheme::Apk)
        }
        _ => None,
    }
}

/// Compares two versions of the same package under `scheme`.
///
/// `Less` means `a` is older than `b`. See [`dpkg_compare`], [`rpm_compare`]
/// and [`apk_compare`] for each scheme's rules and for how malformed versions
/// are placed.
///
/// ```
/// use std::cmp::Ordering;
/// use tlink_domain::pkgver::{Scheme, compare};
///
/// assert_eq!(compare(Scheme::Dpkg, "1.0~rc1-1", "1.0-1"), Ordering::Less);
/// assert_eq!(compare(Scheme::Rpm, "1:1.0-1.el9", "2.0-1.el9"), Ordering::Greater);
/// assert_eq!(compare(Scheme::Apk, "1.2.3_rc1-r0", "1.2.3-r0"), Ordering::Less);
/// ```
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg_compare(a, b),
        Scheme::Rpm => rpm_compare(a, b),
        Scheme::Apk => apk_compare(a, b),
    }
}

/// Compares two numbers written in decimal digits, of any length, without
/// converting them (so no overflow): leading zeros are ignored, then the
/// longer number is the larger, then the first differing digit decides.
fn cmp_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    digits.get(zeros..).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// dpkg
// ---------------------------------------------------------------------------

/// Compares two Debian package versions as `dpkg --compare-versions` does
/// (Debian Policy §5.6.12, `deb-version(5)`).
///
/// A version is `[epoch:]upstream_version[-debian_revision]`, after leading
/// and trailing ASCII whitespace is removed:
///
/// - the epoch is the run of digits before the first `:` and defaults to 0;
///   epochs compare numerically, first;
/// - the revision is everything after the **last** `-` (so the upstream
///   version may contain hyphens and colons); a missing revision equals `0`;
/// - upstream versions, then revisions, compare by alternating non-digit and
///   digit parts: non-digit parts character by character, where `~` sorts
///   before everything (even the end of the part), then the end of the part,
///   then letters, then all other characters, in ASCII order within each
///   class; digit parts numerically (`1.09` equals `1.9`).
///
/// So `~~ < ~~a < ~ < (empty) < a`, `1.0~rc1 < 1.0`, `1:0.9 > 2.0`,
/// `1.0-1 < 1.0-1ubuntu1 < 1.0-1+deb12u1`.
///
/// Malformed input never panics and always lands in the same place:
///
/// - when the text before the first `:` is not a non-empty run of ASCII
///   digits (`a:1.0`, `:1.0`, `-1:0-1`), the version has no epoch (epoch 0)
///   and the colon stays part of the upstream version, where it compares as
///   an ordinary non-letter; dpkg itself rejects such strings, and keeping
///   the text (rather than guessing an epoch) keeps distinct garbage distinct;
/// - epochs of any length compare numerically (dpkg rejects epochs above
///   `INT_MAX`);
/// - bytes outside ASCII sort after every ASCII non-letter, by byte value.
pub fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let a = DpkgVersion::parse(a);
    let b = DpkgVersion::parse(b);
    cmp_decimal(a.epoch, b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// A Debian version split into its three parts; an absent epoch is empty
/// (which [`cmp_decimal`] reads as 0) and so is an absent revision.
#[derive(Debug, PartialEq, Eq)]
struct DpkgVersion<'a> {
    epoch: &'a [u8],
    upstream: &'a [u8],
    revision: &'a [u8],
}

impl<'a> DpkgVersion<'a> {
    fn parse(version: &'a str) -> Self {
        let version = version.trim_ascii();
        let (epoch, rest) = match version.split_once(':') {
            Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|c| c.is_ascii_digit()) => (epoch, rest),
            _ => ("", version),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self { epoch: epoch.as_bytes(), upstream: upstream.as_bytes(), revision: revision.as_bytes() }
    }
}

/// dpkg's weight of a character in a non-digit part; `None` is the end of
/// the string, which weighs the same as a digit (the start of the next part).
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream version or a revision.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let is_digit = |c: Option<&u8>| c.is_some_and(u8::is_ascii_digit);
    let is_non_digit = |c: Option<&u8>| c.is_some_and(|c| !c.is_ascii_digit());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The non-digit part. It cannot step past the end of either string:
        // the end weighs 0 and the other side is then a non-digit, whose
        // weight is never 0, so the loop returns first.
        while is_non_digit(a.get(i)) || is_non_digit(b.get(j)) {
            let (ac, bc) = (dpkg_order(a.get(i).copied()), dpkg_order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // The digit part, compared numerically without converting it.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while let (Some(ac), Some(bc)) =
            (a.get(i).filter(|c| c.is_ascii_digit()), b.get(j).filter(|c| c.is_ascii_digit()))
        {
            if first_diff == Ordering::Equal {
                first_diff = ac.cmp(bc);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a.get(i)) {
            return Ordering::Greater;
        }
        if is_digit(b.get(j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------
// rpm
// ---------------------------------------------------------------------------

/// Compares two RPM `[epoch:]version[-release]` strings as rpm compares EVRs
/// (`rpmverCmp` in rpm's `rpmio/rpmver.c`).
///
/// The string is split as rpm's `parseEVR` splits it: leading digits followed
/// by `:` are the epoch (an empty epoch, `:1.0`, is `0`; no epoch is `0`),
/// the release is everything after the **last** `-`, the version is what is
/// left. Epochs, then versions, compare with [`rpmvercmp`]; then a version
/// with a release is newer than the same version without one, and two
/// releases compare with [`rpmvercmp`].
///
/// The split accepts every string, so there is no malformed input: a string
/// that is not an EVR is simply a version with an unusual shape.
pub fn rpm_compare(a: &str, b: &str) -> Ordering {
    let a = RpmEvr::parse(a);
    let b = RpmEvr::parse(b);
    rpmvercmp(a.epoch, b.epoch).then_with(|| rpmvercmp(a.version, b.version)).then_with(|| {
        match (a.release, b.release) {
            (Some(a), Some(b)) => rpmvercmp(a, b),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        }
    })
}

/// An RPM EVR split as `parseEVR` splits it, with the epoch defaulted to `0`.
#[derive(Debug, PartialEq, Eq)]
struct RpmEvr<'a> {
    epoch: &'a str,
    version: &'a str,
    release: Option<&'a str>,
}

impl<'a> RpmEvr<'a> {
    fn parse(evr: &'a str) -> Self {
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match evr.get(digits..).and_then(|tail| tail.strip_prefix(':')) {
            Some(rest) => (evr.get(..digits).filter(|e| !e.is_empty()).unwrap_or("0"), rest),
            None => ("0", evr),
        };
        match rest.rsplit_once('-') {
            Some((version, release)) => Self { epoch, version, release: Some(release) },
            None => Self { epoch, version: rest, release: None },
        }
    }
}

/// rpm's `rpmvercmp`: compares one version or release string (no epoch, no
/// `-` split), exactly as modern rpm does.
///
/// The strings are read as segments: maximal runs of ASCII digits, maximal
/// runs of ASCII letters, and the single characters `~` and `^`; every other
/// character (including any non-ASCII byte) only separates segments and is
/// otherwise ignored, so `2.0 == 2_0`. Segments compare in order:
///
/// - `~` sorts before anything, even the end of the string (`1.0~rc1 < 1.0`);
/// - `^` sorts after the end of the string but before any other segment
///   (`1.0 < 1.0^git1 < 1.0.1`);
/// - a numeric segment is newer than an alphabetic one;
/// - numeric segments compare as numbers of any length (`10.0001 == 10.1`),
///   alphabetic ones in ASCII order (`1.0a < 1.0aa`, `Z < a`);
/// - when one string runs out, the longer one is newer (`2.0 < 2.0.1`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let is_separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    let (mut i, mut j) = (0, 0);
    loop {
        i += a.get(i..).unwrap_or_default().iter().take_while(|c| is_separator(c)).count();
        j += b.get(j..).unwrap_or_default().iter().take_while(|c| is_separator(c)).count();
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // Whichever string has a segment left is newer.
        let Some(ca) = ca else { return Ordering::Less };
        if cb.is_none() {
            return Ordering::Greater;
        }
        // The segment type is the one `a` starts with; `b` is cut the same way.
        let numeric = ca.is_ascii_digit();
        let in_segment = |c: &u8| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
        let seg_a = run(a, i, in_segment);
        let seg_b = run(b, j, in_segment);
        if seg_b.is_empty() {
            // Different types: numeric segments are newer than alphabetic ones.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let ord = if numeric { cmp_decimal(seg_a, seg_b) } else { seg_a.cmp(seg_b) };
        if ord != Ordering::Equal {
            return ord;
        }
        i += seg_a.len();
        j += seg_b.len();
    }
}

/// The longest run of bytes from `start` that satisfy `pred`.
fn run(s: &[u8], start: usize, pred: impl Fn(&u8) -> bool) -> &[u8] {
    let tail = s.get(start..).unwrap_or_default();
    let len = tail.iter().take_while(|c| pred(c)).count();
    tail.get(..len).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// apk
// ---------------------------------------------------------------------------

/// Compares two Alpine package versions as apk-tools does
/// (`apk_version_compare` in `src/version.c`).
///
/// A valid version is `digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]`
/// and compares token by token:
///
/// - the first number numerically; later dot-separated numbers numerically,
///   unless either starts with `0`, in which case as strings (`1.2.07 <
///   1.2.1`, as Gentoo does);
/// - a single lower-case letter by its character (`1.0a < 1.0b`);
/// - suffixes in the order `_alpha < _beta < _pre < _rc < (none) < _cvs <
///   _svn < _git < _hg < _p`, each with an optional number compared
///   numerically; several suffixes may follow each other;
/// - a `~hash` (lower-case hex digits) as a string;
/// - the package revision `-rN` numerically.
///
/// When one version has run out of tokens (or has a different kind of token
/// next) and everything before was equal, a pre-release suffix (`_alpha` …
/// `_rc`) next makes that side older; otherwise the side whose next token
/// comes later in the grammar (the end of the string last) is older, so
/// `1.0_rc1 < 1.0 < 1.0-r1 < 1.0_p1 < 1.0a < 1.0.1`.
///
/// Malformed input is ordered the way apk-tools orders it, never with a
/// panic: comparison stops at the first token that does not fit the grammar
/// (an upper-case letter, a second letter, an unknown suffix, `-` not
/// followed by `r` and digits, …). Such an invalid token sorts before any
/// valid token and before the end of the string, and two versions that are
/// equal up to an invalid token on both sides are equal (`1.0_foo ==
/// 1.0_bar`, `1.0_foo < 1.0`). Numbers of any length compare exactly, where
/// apk-tools uses 64-bit arithmetic; the two differ only for components of
/// twenty digits or more.
///
/// This is the current apk-tools algorithm. Older apk-tools releases (before
/// `version.c` was rewritten with `~hash` support) also accepted digits right
/// after a letter (`1.9.5p3 > 1.9.5p2`, where here both are invalid from the
/// `3` on and so equal) and ordered a lone `0` above zero-led components
/// (`8.2.0 > 8.2.001`, reversed here as in current apk-tools' tests); the two
/// agree on every other valid version.
pub fn apk_compare(a: &str, b: &str) -> Ordering {
    let (mut rest_a, mut rest_b) = (a.as_bytes(), b.as_bytes());
    let mut ta = apk_first_token(&mut rest_a);
    let mut tb = apk_first_token(&mut rest_b);
    while ta.kind == tb.kind && ta.kind < ApkKind::End {
        let ord = apk_token_cmp(&ta, &tb);
        if ord != Ordering::Equal {
            return ord;
        }
        ta = apk_next_token(ta.kind, &mut rest_a);
        tb = apk_next_token(tb.kind, &mut rest_b);
    }
    if ta.kind == tb.kind {
        return Ordering::Equal;
    }
    if ta.kind == ApkKind::Suffix && ta.suffix < APK_SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.kind == ApkKind::Suffix && tb.suffix < APK_SUFFIX_NONE {
        return Ordering::Greater;
    }
    // The side whose next token comes later in the grammar is older.
    tb.kind.cmp(&ta.kind)
}

/// apk-tools' token kinds, in grammar order (the order is the semantics: it
/// decides which tokens may follow which, and who wins when they differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ApkKind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// The rank of "no suffix", between the pre-release and post-release ones.
const APK_SUFFIX_NONE: u8 = 5;

/// The rank of a suffix word, or `None` when apk-tools does not know it.
fn apk_suffix_rank(word: &[u8]) -> Option<u8> {
    match word {
        b"alpha" => Some(1),
        b"beta" => Some(2),
        b"pre" => Some(3),
        b"rc" => Some(4),
        b"cvs" => Some(6),
        b"svn" => Some(7),
        b"git" => Some(8),
        b"hg" => Some(9),
        b"p" => Some(10),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
struct ApkToken<'a> {
    kind: ApkKind,
    /// The token's text: digits, the letter, the suffix word or the hash.
    value: &'a [u8],
    /// The suffix rank, for [`ApkKind::Suffix`] only.
    suffix: u8,
}

impl ApkToken<'_> {
    const END: Self = Self { kind: ApkKind::End, value: &[], suffix: 0 };
    const INVALID: Self = Self { kind: ApkKind::Invalid, value: &[], suffix: 0 };
}

/// Takes the longest prefix of `rest` whose bytes satisfy `pred`.
fn apk_take<'a>(rest: &mut &'a [u8], pred: impl Fn(&u8) -> bool) -> &'a [u8] {
    let len = rest.iter().take_while(|c| pred(c)).count();
    let (taken, tail) = rest.split_at_checked(len).unwrap_or((rest, &[]));
    *rest = tail;
    taken
}

fn apk_digits_token<'a>(kind: ApkKind, rest: &mut &'a [u8]) -> ApkToken<'a> {
    let value = apk_take(rest, u8::is_ascii_digit);
    if value.is_empty() { ApkToken::INVALID } else { ApkToken { kind, value, suffix: 0 } }
}

fn apk_first_token<'a>(rest: &mut &'a [u8]) -> ApkToken<'a> {
    apk_digits_token(ApkKind::InitialDigit, rest)
}

/// The token after one of kind `prev`, checking that it may follow it.
fn apk_next_token<'a>(prev: ApkKind, rest: &mut &'a [u8]) -> ApkToken<'a> {
    let Some((&c, tail)) = rest.split_first() else { return ApkToken::END };
    match c {
        b'a'..=b'z' => {
            if prev > ApkKind::Digit {
                return ApkToken::INVALID;
            }
            let value = rest.get(..1).unwrap_or_default();
            *rest = tail;
            ApkToken { kind: ApkKind::Letter, value, suffix: 0 }
        }
        b'.' | b'0'..=b'9' => {
            if c == b'.' {
                if prev > ApkKind::Digit {
                    return ApkToken::INVALID;
                }
                *rest = tail;
            }
            match prev {
                ApkKind::InitialDigit | ApkKind::Digit => apk_digits_token(ApkKind::Digit, rest),
                ApkKind::Suffix => apk_digits_token(ApkKind::SuffixNo, rest),
                _ => ApkToken::INVALID,
            }
        }
        b'_' => {
            if prev > ApkKind::SuffixNo {
                return ApkToken::INVALID;
            }
            *rest = tail;
            let value = apk_take(rest, u8::is_ascii_lowercase);
            match apk_suffix_rank(value) {
                Some(suffix) => ApkToken { kind: ApkKind::Suffix, value, suffix },
                None => ApkToken::INVALID,
            }
        }
        b'~' => {
            if prev >= ApkKind::CommitHash {
                return ApkToken::INVALID;
            }
            *rest = tail;
            let value = apk_take(rest, |c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
            if value.is_empty() { ApkToken::INVALID } else { ApkToken { kind: ApkKind::CommitHash, value, suffix: 0 } }
        }
        b'-' => {
            if prev >= ApkKind::RevisionNo {
                return ApkToken::INVALID;
            }
            match tail.strip_prefix(b"r") {
                Some(after) => {
                    *rest = after;
                    apk_digits_token(ApkKind::RevisionNo, rest)
                }
                None => ApkToken::INVALID,
            }
        }
        _ => ApkToken::INVALID,
    }
}

/// Compares two tokens of the same kind.
fn apk_token_cmp(a: &ApkToken<'_>, b: &ApkToken<'_>) -> Ordering {
    match a.kind {
        ApkKind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => a.value.cmp(b.value),
        ApkKind::InitialDigit | ApkKind::Digit | ApkKind::SuffixNo | ApkKind::RevisionNo => {
            cmp_decimal(a.value, b.value)
        }
        ApkKind::Suffix => a.suffix.cmp(&b.suffix),
        ApkKind::Letter | ApkKind::CommitHash | ApkKind::End | ApkKind::Invalid => a.value.cmp(b.value),
    }
}

// ---------------------------------------------------------------------------
// OSV ranges
// ---------------------------------------------------------------------------

/// One event of an OSV `affected[].ranges[].events` list.
///
/// It (de)serializes exactly as OSV writes events: `{"introduced": "1.0-1"}`,
/// `{"fixed": …}`, `{"last_affected": …}`, `{"limit": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Versions from this one on are affected; `"0"` means from the very
    /// first version (it sorts before every version, whatever the scheme).
    Introduced(String),
    /// Versions from this one on are no longer affected.
    Fixed(String),
    /// This version is the last affected one; later versions are not.
    LastAffected(String),
    /// Only versions below this one are in the range at all; a value
    /// containing `*` means no limit.
    Limit(String),
}

impl Event {
    /// The version the event is about.
    pub fn version(&self) -> &str {
        match self {
            Self::Introduced(v) | Self::Fixed(v) | Self::LastAffected(v) | Self::Limit(v) => v,
        }
    }

    fn is_introduced_zero(&self) -> bool {
        matches!(self, Self::Introduced(v) if v == OSV_ZERO)
    }
}

/// OSV's `introduced` value for "before every version".
const OSV_ZERO: &str = "0";

/// Whether `version` lies in one OSV `ECOSYSTEM` range given as a single
/// introduced/fixed (or introduced/last_affected) pair.
///
/// `version` is affected when it is at or after `introduced` (`"0"` or
/// `None`: from the beginning) and before the upper bound: below `fixed`, at
/// or below `last_affected`, or anywhere when neither is given. OSV forbids
/// `fixed` and `last_affected` in one range; if both are given anyway, the
/// version must be below both bounds, which is what [`affected_by_events`]
/// yields for such a list. A pair whose `introduced` is not below its upper
/// bound affects nothing.
pub fn in_range(
    scheme: Scheme,
    version: &str,
    introduced: Option<&str>,
    fixed: Option<&str>,
    last_affected: Option<&str>,
) -> bool {
    let from_start = match introduced {
        None => true,
        Some(introduced) => introduced == OSV_ZERO || compare(scheme, version, introduced) != Ordering::Less,
    };
    from_start
        && fixed.is_none_or(|fixed| compare(scheme, version, fixed) == Ordering::Less)
        && last_affected.is_none_or(|last| compare(scheme, version, last) != Ordering::Greater)
}

/// Whether `version` is affected according to one OSV range's `events` list,
/// following the OSV schema's evaluation algorithm (`IncludedInRanges` and
/// `BeforeLimits`).
///
/// - If there are `limit` events, `version` must be below at least one of
///   them (a limit containing `*` is infinite); no limit means no limit.
/// - The other events are sorted by version under `scheme` (`introduced:
///   "0"` first; events with equal versions keep their listed order) and
///   walked in that order: an `introduced` at or below `version` makes it
///   affected, a `fixed` at or below it makes it unaffected, a
///   `last_affected` strictly below it makes it unaffected.
///
/// So several introduced/fixed pairs describe several affected intervals,
/// in any listed order. An empty list affects nothing.
///
/// ```
/// use tlink_domain::pkgver::{Event, Scheme, affected_by_events};
///
/// let events = [
///     Event::Introduced("0".into()),
///     Event::Fixed("2.36-9+deb12u4".into()),
/// ];
/// assert!(affected_by_events(Scheme::Dpkg, "2.36-9+deb12u3", &events));
/// assert!(!affected_by_events(Scheme::Dpkg, "2.36-9+deb12u4", &events));
/// ```
pub fn affected_by_events(scheme: Scheme, version: &str, events: &[Event]) -> bool {
    let mut limits = events
        .iter()
        .filter_map(|event| match event {
            Event::Limit(limit) => Some(limit.as_str()),
            _ => None,
        })
        .peekable();
    if limits.peek().is_some()
        && !limits.any(|limit| limit.contains('*') || compare(scheme, version, limit) == Ordering::Less)
    {
        return false;
    }

    let mut affected = false;
    for event in sort_events(scheme, events) {
        match event {
            Event::Introduced(introduced) => {
                if introduced == OSV_ZERO || compare(scheme, version, introduced) != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(fixed) => {
                if compare(scheme, version, fixed) != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(last) => {
                if compare(scheme, version, last) == Ordering::Greater {
                    affected = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    affected
}

/// The non-limit events in version order, stable for equal versions.
///
/// A plain insertion sort: event lists are short, and unlike the standard
/// library's sorts it cannot panic whatever the comparison does.
fn sort_events(scheme: Scheme, events: &[Event]) -> Vec<&Event> {
    let mut sorted: Vec<&Event> = Vec::with_capacity(events.len());
    for event in events.iter().filter(|event| !matches!(event, Event::Limit(_))) {
        let at = sorted
            .iter()
            .rposition(|placed| event_cmp(scheme, placed, event) != Ordering::Greater)
            .map_or(0, |before| before + 1);
        sorted.insert(at, event);
    }
    sorted
}

fn event_cmp(scheme: Scheme, a: &Event, b: &Event) -> Ordering {
    match (a.is_introduced_zero(), b.is_introduced_zero()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(scheme, a.version(), b.version()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use std::cmp::Ordering::{Equal, Greater, Less};

    const SCHEMES: [Scheme; 3] = [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk];

    fn ordering(n: i8) -> Ordering {
        n.cmp(&0)
    }

    /// Asserts `a <op> b` and, as every table row is also a check of the
    /// reverse, `b <reverse op> a`.
    fn assert_cmp(scheme: Scheme, a: &str, b: &str, expected: Ordering) {
        assert_eq!(compare(scheme, a, b), expected, "{scheme:?}: {a:?} vs {b:?}");
        assert_eq!(compare(scheme, b, a), expected.reverse(), "{scheme:?}: {b:?} vs {a:?}");
    }

    /// Asserts that `versions` is strictly ascending, pair by pair (not just
    /// neighbour by neighbour).
    fn assert_ascending(scheme: Scheme, versions: &[&str]) {
        for (i, a) in versions.iter().enumerate() {
            for b in versions.get(i + 1..).unwrap_or_default() {
                assert_cmp(scheme, a, b, Less);
            }
        }
    }

    /// Parses `a b -1|0|1` lines (dpkg's `__DATA__` format).
    fn parse_triples(data: &str) -> Vec<(&str, &str, Ordering)> {
        data.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(fields.len(), 3, "bad test line {line:?}");
                (fields[0], fields[1], ordering(fields[2].parse().unwrap()))
            })
            .collect()
    }

    // --- dpkg ----------------------------------------------------------------

    /// dpkg's `scripts/t/Dpkg_Version.t` `__DATA__` table (also run through
    /// `dpkg --compare-versions` by that test).
    const DPKG_VERSION_T: &str = "
        1.0-1 2.0-2 -1
        2.2~rc-4 2.2-1 -1
        2.2-1 2.2~rc-4 1
        1.0000-1 1.0-1 0
        1 0:1 0
        0 0:0-0 0
        2:2.5 1:7.5 1
        1:0foo 0foo 1
        0:0foo 0foo 0
        0foo 0foo 0
        0foo- 0foo 0
        0foo- 0foo-0 0
        0foo 0fo 1
        0foo- 0foo+ -1
        0foo~1 0foo -1
        0foo~foo+Bar 0foo~foo+bar -1
        0foo~~ 0foo~ -1
        1~ 1 -1
        12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
        0foo-0 0foo-01 -1
        0foo.bar 0foobar 1
        0foo.bar 0foo1bar 1
        0foo.bar 0foo0bar 1
        0foo1bar-1 0foobar-1 -1
        0foo2.0 0foo2 1
        0foo2.0.0 0foo2.10.0 -1
        0foo2.0 0foo2.0.0 -1
        0foo2.0 0foo2.10 -1
        0foo2.1 0foo2.10 -1
        1.09 1.9 0
        1.0.8+nmu1 1.0.8 1
        3.11 3.10+nmu1 1
        0.9j-20080306-4 0.9i-20070324-2 1
        1.2.0~b7-1 1.2.0~b6-1 1
        1.011-1 1.06-2 1
        0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
        4.6.99+svn6582-1 4.6.99+svn6496-1 1
        53 52 1
        0.9.9~pre122-1 0.9.9~pre111-1 1
        2:2.3.2-2+lenny2 2:2.3.2-2 1
        1:3.8.1-1 3.8.GA-1 1
        1.0.1+gpl-1 1.0.1-2 1
        1a 1000a -1
        -0.6.5 0.9.1 -1
    ";

    /// The rows of dpkg's older `scripts/t/100_Dpkg_Version.t` whose versions
    /// do not start with a digit (the newer table prefixes them with `0`).
    const DPKG_100_VERSION_T: &str = "
        1:foo foo 1
        0:foo foo 0
        foo foo 0
        foo- foo 0
        foo- foo-0 0
        foo fo 1
        foo- foo+ -1
        foo~1 foo -1
        foo~foo+Bar foo~foo+bar -1
        foo~~ foo~ -1
        foo-0 foo-01 -1
        foo.bar foobar 1
        foo.bar foo1bar 1
        foo.bar foo0bar 1
        1foo-1 foo-1 -1
        foo2.0 foo2 1
        foo2.0.0 foo2.10.0 -1
        foo2.0 foo2.0.0 -1
        foo2.0 foo2.10 -1
        foo2.1 foo2.10 -1
    ";

    #[test]
    fn dpkg_test_suite_tables() {
        let rows: Vec<_> = parse_triples(DPKG_VERSION_T).into_iter().chain(parse_triples(DPKG_100_VERSION_T)).collect();
        assert_eq!(rows.len(), 44 + 20);
        for (a, b, expected) in rows {
            assert_cmp(Scheme::Dpkg, a, b, expected);
        }
    }

    #[test]
    fn dpkg_policy_tilde_ordering() {
        // Debian Policy §5.6.12: "~~, ~~a, ~, the empty part, a".
        assert_ascending(Scheme::Dpkg, &["1~~", "1~~a", "1~", "1", "1a"]);
        assert_ascending(Scheme::Dpkg, &["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a"]);
        assert_cmp(Scheme::Dpkg, "1.0~rc1", "1.0", Less);
        assert_cmp(Scheme::Dpkg, "1.0~rc1-1", "1.0-1", Less);
        // "The absence of a debian_revision is equivalent to a debian_revision of 0."
        assert_cmp(Scheme::Dpkg, "1.0", "1.0-0", Equal);
    }

    #[test]
    fn dpkg_distribution_examples() {
        for (a, b, expected) in [
            ("1:0.9", "2.0", Greater),
            ("1.0-1", "1.0-1ubuntu1", Less),
            ("2.30-1", "2.30-1+deb12u1", Less),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.2.3-1", "1.2.10-1", Less),
            ("1.0-1~bpo11+1", "1.0-1", Less),
            ("1.0+dfsg-1", "1.0-1", Greater),
            // osv.dev's ubuntu_test.py.
            ("2.42.8+dfsg-1ubuntu0.3", "2.40.0+dfsg-3ubuntu0.5", Greater),
            ("2.42.8+dfsg-1ubuntu0.3", "2.42.8+dfsg-1ubuntu0.2", Greater),
            ("5.4.13-1", "3.2.30-1", Greater),
            // dpkg's lib/dpkg/t/t-version.c compare cases, as strings.
            ("0-00", "00-0", Equal),
            ("1:2-3", "1:2-3", Equal),
            ("0-0", "1:0-0", Less),
            ("a-0", "b-0", Less),
            ("0-a", "0-b", Less),
        ] {
            assert_cmp(Scheme::Dpkg, a, b, expected);
        }
        assert_ascending(
            Scheme::Dpkg,
            &["2.36-9", "2.36-9+deb12u1", "2.36-9+deb12u10", "2.36-10", "1:2.35-1", "1:2.36~rc1-1", "1:2.36-1"],
        );
    }

    fn assert_dpkg_parts(version: &str, (epoch, upstream, revision): (&str, &str, &str)) {
        let expected =
            DpkgVersion { epoch: epoch.as_bytes(), upstream: upstream.as_bytes(), revision: revision.as_bytes() };
        assert_eq!(DpkgVersion::parse(version), expected, "{version:?}");
    }

    #[test]
    fn dpkg_parsing_follows_dpkg() {
        // The splits of dpkg's lib/dpkg/t/t-version.c parse tests.
        for (version, expected) in [
            ("0", ("", "0", "")),
            ("0:0", ("0", "0", "")),
            ("0:0-", ("0", "0", "")),
            ("0:0-0", ("0", "0", "0")),
            ("0:0.0-0.0", ("0", "0.0", "0.0")),
            ("1:0", ("1", "0", "")),
            ("5:1", ("5", "1", "")),
            ("0:0-0-0", ("0", "0-0", "0")),
            ("0:0-0-0-0", ("0", "0-0-0", "0")),
            ("0:0:0-0", ("0", "0:0", "0")),
            ("0:0:0:0-0", ("0", "0:0:0", "0")),
            ("0:0:0-0-0", ("0", "0:0-0", "0")),
            ("0:0-0:0-0", ("0", "0-0:0", "0")),
            ("0:09azAZ.-+~:-0", ("0", "09azAZ.-+~:", "0")),
            ("0:0-azAZ09.+~", ("0", "0", "azAZ09.+~")),
            ("  \t0:0-1", ("0", "0", "1")),
            ("0:0-1\t  ", ("0", "0", "1")),
            ("\t  0:0-1  \t", ("0", "0", "1")),
        ] {
            assert_dpkg_parts(version, expected);
        }
        assert_cmp(Scheme::Dpkg, "  \t0:0-1", "0-1", Equal);
    }

    #[test]
    fn dpkg_malformed_versions_have_a_documented_place() {
        // An epoch that is not a run of digits is no epoch: the colon stays
        // in the upstream version.
        for (version, expected) in [
            ("a:1.0", ("", "a:1.0", "")),
            (":1.0", ("", ":1.0", "")),
            ("-1:0-1", ("", "-1:0", "1")),
            ("10a:5.2", ("", "10a:5.2", "")),
            ("", ("", "", "")),
        ] {
            assert_dpkg_parts(version, expected);
        }
        // `:` is an ordinary non-letter there: after letters, after the end.
        assert_cmp(Scheme::Dpkg, ":1.0", "1.0", Greater);
        assert_cmp(Scheme::Dpkg, "a:1.0", "b:1.0", Less);
        assert_cmp(Scheme::Dpkg, "a:1.0", "1.0", Greater);
        assert_cmp(Scheme::Dpkg, "a:1.0", "1:0", Less);
        // Epochs of any size compare numerically.
        assert_ascending(Scheme::Dpkg, &["1:1", "2:0", "9223372036854775808:0", "99999999999999999999999:0"]);
        assert_cmp(Scheme::Dpkg, "00001:1", "1:1", Equal);
        // The empty version is version 0: newer only than `~` ones.
        assert_ascending(Scheme::Dpkg, &["~", "0~", "", "0.1", "a"]);
        assert_cmp(Scheme::Dpkg, "", "0", Equal);
        // Non-ASCII sorts after ASCII non-letters and never panics.
        assert_cmp(Scheme::Dpkg, "1.0é", "1.0+", Greater);
        assert_cmp(Scheme::Dpkg, "1.0é", "1.0é", Equal);
    }

    // --- rpm -----------------------------------------------------------------

    /// rpm's `tests/rpmvercmp.at`: every `RPMVERCMP(a, b, expected)` row,
    /// including the tilde and caret blocks.
    const RPMVERCMP_AT: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        // RhBug:178798
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        // Tilde.
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        // Caret.
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        // Tilde and caret.
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
    ];

    /// The "oddities" rpmvercmp.at documents (commented out there, with these
    /// expected values) as current behaviour: RhBug:811992, and non-ASCII
    /// characters being mere separators.
    const RPMVERCMP_AT_ODDITIES: &[(&str, &str, i8)] = &[
        ("1b.fc17", "1b.fc17", 0),
        ("1b.fc17", "1.fc17", -1),
        ("1.fc17", "1b.fc17", 1),
        ("1g.fc17", "1g.fc17", 0),
        ("1g.fc17", "1.fc17", 1),
        ("1.fc17", "1g.fc17", -1),
        ("1.1.α", "1.1.α", 0),
        ("1.1.α", "1.1.β", 0),
        ("1.1.β", "1.1.α", 0),
        ("1.1.αα", "1.1.α", 0),
        ("1.1.α", "1.1.ββ", 0),
        ("1.1.ββ", "1.1.αα", 0),
    ];

    #[test]
    fn rpmvercmp_matches_rpms_test_table() {
        assert_eq!(RPMVERCMP_AT.len(), 91);
        for &(a, b, expected) in RPMVERCMP_AT.iter().chain(RPMVERCMP_AT_ODDITIES) {
            assert_eq!(rpmvercmp(a, b), ordering(expected), "rpmvercmp({a:?}, {b:?})");
            // None of these has an epoch or a release, so the EVR comparison agrees.
            assert_eq!(rpm_compare(a, b), ordering(expected), "rpm_compare({a:?}, {b:?})");
        }
    }

    #[test]
    fn rpm_evr_split_follows_parse_evr() {
        for (evr, epoch, version, release) in [
            ("1.0", "0", "1.0", None),
            ("1.0-1", "0", "1.0", Some("1")),
            ("2:1.0-1.el9", "2", "1.0", Some("1.el9")),
            (":1.0", "0", "1.0", None),
            ("1:", "1", "", None),
            ("1.0-1-2", "0", "1.0-1", Some("2")),
            ("1.0-", "0", "1.0", Some("")),
            ("a:1.0", "0", "a:1.0", None),
            ("12a:1-2", "0", "12a:1", Some("2")),
            ("", "0", "", None),
        ] {
            assert_eq!(RpmEvr::parse(evr), RpmEvr { epoch, version, release }, "{evr:?}");
        }
    }

    #[test]
    fn rpm_evr_ordering() {
        for (a, b, expected) in [
            // Epoch first, numerically; absent epoch is 0.
            ("1:1.0-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("01:1.0", "1:1.0", Equal),
            (":1.0", "0:1.0", Equal),
            // A release makes the version newer than the bare version.
            ("1.0", "1.0-1", Less),
            ("1.0-", "1.0", Greater),
            ("1.0-1.el9", "1.0-1.el9_2", Less),
            // osv.dev's redhat_test.py (Red Hat, AlmaLinux, Mageia, openEuler, openSUSE, SUSE).
            ("0:0.2.6-20.module+el8.9.0+1420+91577025", "0:0.0.99.4-5.module+el8.9.0+1445+07728297", Greater),
            ("2:1.14.3-2.module+el8.10.0+1815+5fe7415e", "2:1.10.3-1.module+el8.10.0+1815+5fe7415e", Greater),
            ("0.string", "0.0", Less),
            ("9.27-15.el8_10", "9.27-13.el8_10", Greater),
            ("3:2.1.10-1.module_el8.10.0+3858+6ad51f9f", "3:2.1.10-1.module_el8.10.0+3845+87b84552", Greater),
            ("20230404-117.git2e92a49f.el8_8.alma.1", "20240111-121.gitb3132c18.el8", Less),
            ("20240111-121.gitb3132c18.el8", "20240111-121.gitb3132c18.el8", Equal),
            ("3.2.7-1.2.mga9", "3.2.7-1.mga9", Greater),
            ("1:1.8.11-1.mga9", "0:1.9.1-2.mga9", Greater),
            ("1.2.3-1.oe2203", "1.2.2-1.oe2203", Greater),
            ("1.2.3-2.oe2203", "1.2.3-1.oe2203", Greater),
            ("1.2.2-1.oe2203", "1.2.3-1.oe2203", Less),
            ("1.10.2-1.oe2203", "1.2.2-1.oe2203", Greater),
            ("4.2-lp151.4.3.1", "1.5.1-lp151.4.3.1", Greater),
            ("6.2.8-bp156.2.3.1", "6.2.8-bp156", Greater),
            ("0.4.6-15.8", "1.4.6-15.8", Less),
            ("2.38.5-150400.4.34.2", "2.37.5-150400.4.34.2", Greater),
            ("2.0.8_k4.12.14_10.118-4.8.2", "2.0.8-4.8.2", Greater),
            ("1.86-150100.7.23.11", "2.86-150100.7.23.1", Less),
        ] {
            assert_cmp(Scheme::Rpm, a, b, expected);
        }
        assert_ascending(
            Scheme::Rpm,
            &[
                "1.0~rc1-1.el9",
                "1.0-1.el9",
                "1.0-1.el9_1",
                "1.0-2.el9",
                "1.0^20240101git-1.el9",
                "1.0.1-1.el9",
                "1:0.1-1",
            ],
        );
    }

    // --- apk -----------------------------------------------------------------

    /// A sample of the orderings and validity rules apk-tools tests
    /// (`test/unit/version.data`): `a <op> b` rows and validity rows
    /// (`version` is valid, `!version` is not).
    const APK_VERSION_DATA: &str = "
2.34 > 0.1.0_alpha
1.0.2 > 0.7-r1
0.6.1 < 0.7.0
0.12.3 > 0.12
0.6 < 2.1.13-r3
1.0.8 < 1.2.1
1.0.0 < 1.2.2-r1
2.1.0-r2 < 2.9.3-r1
1.3 > 1.0.3-r6
1.21-r1 > 0.13
1.4 < 2.8.9-r1
2.8.0.6-r1 > 0.5.2.7
9 > 2.18.3-r10
1.8 < 2.11-r1
1.0.0 < 10-r1
4.19 > 4.3.0
20060720 > 3.0.20060720
2.6.3 < 3.1.5-r2
1.2.10-r5 < 4.1.4-r3
0.97-r2 < 0.97-r3
0.9.16 > 0.3-r2
1.0.1 < 2.2.0
2.6.19.20061214 > 0.6.2-r1
0.01 < 0.06
0.10.0-r1 > 0.10.0
1.0.1 < 1.2.2
1.0.1 < 1.0.5
1.0-r1 > 0.15.1b
0.0.25 < 0.17
1.2.12-r1 < 1.2.13
0.1.12 < 1.1.4.1
22.7 > 2.1_pre20
5.1.1 > 1.2
8.1.2.20040524-r1 < 8.1.2.20050715-r1
2.6.1 > 2.6
1.0.4 < 20060811
0.65 > 0.2.10-r2
5.5-r2 < 5.5-r3
0.51.6-r1 < 1.0.6-r6
0.21 > 0.3.7-r3
4.3_p2-r5 < 4.4_p1-r6
0.78-r3 > 0.3.2
1.3.1-r1 < 5.8.8-r2
2.2.10 < 2.3.6
1.2.2 < 2.04
3.8 > 0.2.3
3.0.22-r3 < 3.0.24
0.1.7 < 1.11
2.9.11_pre20051101-r2 < 2.9.11_pre20051101-r3
2.6.1.3-r1 < 12.17.9
4.5.14 > 4.09-r1
2.86-r5 < 2.86-r6
0.40-r1 < 2.25b-r5
0.9.28.1 > 0.9.28
1.2.5_rc2 > 0.1
7.0.174 > 1.0.1
1.1.2-r2 > 1.1.0
1.2.0 > 1.1.0
1.4.1 > 0.9.1-r1
2.7.11 > 1.0.2-r6
2.31 > 1.2.3-r1
6.1_p1 > 6.1
1.2
0.1_p1_pre2
!
!0.1a1
!0.1_pre2~1234xbcd
!0.1_foobar
!0.1-r
!0.1-r2-r3
!a
!0.1_
!0.1_1_alpha
";

    /// apk-tools' `apk_version_validate`: the version tokenizes to its end.
    fn apk_is_valid(version: &str) -> bool {
        let mut rest = version.as_bytes();
        let mut token = apk_first_token(&mut rest);
        while token.kind < ApkKind::End {
            token = apk_next_token(token.kind, &mut rest);
        }
        token.kind == ApkKind::End
    }

    #[test]
    fn apk_matches_apk_tools_version_data() {
        let (mut comparisons, mut validity) = (0, 0);
        for line in APK_VERSION_DATA.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [] => {}
                [a, op, b] => {
                    let expected = match *op {
                        "<" => Less,
                        "=" => Equal,
                        ">" => Greater,
                        // Fuzzy (prefix) matching is a dependency feature,
                        // not an ordering.
                        "~" | "<~" | ">~" | "!~" => continue,
                        other => panic!("unknown operator {other:?}"),
                    };
                    assert_cmp(Scheme::Apk, a, b, expected);
                    comparisons += 1;
                }
                [version] => {
                    match version.strip_prefix('!') {
                        Some(invalid) => assert!(!apk_is_valid(invalid), "{invalid:?} should be invalid"),
                        None => assert!(apk_is_valid(version), "{version:?} should be valid"),
                    }
                    validity += 1;
                }
                _ => panic!("bad test line {line:?}"),
            }
        }
        assert_eq!((comparisons, validity), (62, 11));
    }

    #[test]
    fn apk_suffix_and_revision_ordering() {
        assert_ascending(
            Scheme::Apk,
            &[
                "1.0_alpha",
                "1.0_alpha1",
                "1.0_alpha2_pre1",
                "1.0_alpha2",
                "1.0_beta",
                "1.0_pre1",
                "1.0_rc1",
                "1.0",
                "1.0-r1",
                "1.0-r10",
                "1.0_cvs",
                "1.0_svn",
                "1.0_git20240101",
                "1.0_hg",
                "1.0_p1",
                "1.0_p1-r1",
                "1.0a",
                "1.0b",
                "1.0.1_rc1",
                "1.0.1",
            ],
        );
        // The chain in `apk_compare`'s documentation.
        assert_ascending(Scheme::Apk, &["1.0_rc1", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1"]);
        // osv.dev's alpine_test.py (but see the malformed-version test for
        // its `1.9.5p3 > 1.9.5p2`).
        assert_cmp(Scheme::Apk, "1.9.5p1", "1.9.5", Greater);
        assert_cmp(Scheme::Apk, "1.13.2-r0", "1.13.2_alpha", Greater);
        assert_cmp(Scheme::Apk, "1.2.3-r0", "1.2.3", Greater);
        assert_cmp(Scheme::Apk, "3.0.13-r0", "3.0.8-r1", Greater);
    }

    #[test]
    fn apk_malformed_versions_order_as_apk_tools_does() {
        // Comparison stops at the first invalid token: equal prefixes with
        // invalid tokens on both sides are equal…
        assert_cmp(Scheme::Apk, "1.0_foo", "1.0_bar", Equal);
        assert_cmp(Scheme::Apk, "", "abc", Equal);
        // …and an invalid token sorts before the end and any valid token.
        assert_ascending(Scheme::Apk, &["1.0_foo", "1.0", "1.0.1"]);
        assert_cmp(Scheme::Apk, "1.0-1", "1.0", Less);
        assert_cmp(Scheme::Apk, "", "0", Less);
        // osv.dev places unparsable versions above everything; apk-tools
        // (followed here) stops at `-0`, which is not `-r<N>`.
        assert_cmp(Scheme::Apk, "1-0-0", "1.13.2-r0", Less);
        // Digits after a letter are invalid in current apk-tools (`!0.1a1` in
        // its test data), so these are equal; osv.dev's alpine_test.py, like
        // older apk-tools, has `1.9.5p3 > 1.9.5p2`.
        assert_cmp(Scheme::Apk, "1.9.5p3", "1.9.5p2", Equal);
        // Numbers of any length compare exactly.
        assert_cmp(Scheme::Apk, "1.99999999999999999999999", "1.99999999999999999999998", Greater);
        assert_cmp(Scheme::Apk, "123456789012345678901234567890", "123456789012345678901234567891", Less);
    }

    // --- ecosystems ----------------------------------------------------------

    #[test]
    fn osv_ecosystems_map_to_their_scheme() {
        for (ecosystem, expected) in [
            ("Debian", Some(Scheme::Dpkg)),
            ("Debian:12", Some(Scheme::Dpkg)),
            ("Debian:sid", Some(Scheme::Dpkg)),
            ("Ubuntu", Some(Scheme::Dpkg)),
            ("Ubuntu:22.04:LTS", Some(Scheme::Dpkg)),
            ("Ubuntu:Pro:18.04:LTS", Some(Scheme::Dpkg)),
            ("Echo", Some(Scheme::Dpkg)),
            ("Alpine", Some(Scheme::Apk)),
            ("Alpine:v3.19", Some(Scheme::Apk)),
            ("Wolfi", Some(Scheme::Apk)),
            ("Chainguard", Some(Scheme::Apk)),
            ("Alpaquita:stream", Some(Scheme::Apk)),
            ("MinimOS", Some(Scheme::Apk)),
            ("BellSoft Hardened Containers:23", Some(Scheme::Apk)),
            ("Red Hat", Some(Scheme::Rpm)),
            ("Red Hat:rhel_aus:8.4::appstream", Some(Scheme::Rpm)),
            ("Rocky Linux", Some(Scheme::Rpm)),
            ("Rocky Linux:9", Some(Scheme::Rpm)),
            ("AlmaLinux", Some(Scheme::Rpm)),
            ("AlmaLinux:8", Some(Scheme::Rpm)),
            ("openSUSE", Some(Scheme::Rpm)),
            ("openSUSE:Tumbleweed", Some(Scheme::Rpm)),
            ("SUSE", Some(Scheme::Rpm)),
            ("SUSE:Linux Enterprise Server 15 SP5", Some(Scheme::Rpm)),
            ("Mageia:9", Some(Scheme::Rpm)),
            ("openEuler:22.03-LTS", Some(Scheme::Rpm)),
            // Not Linux distributions, or not ordered here.
            ("npm", None),
            ("PyPI", None),
            ("crates.io", None),
            ("Go", None),
            ("Linux", None),
            ("Photon OS:3.0", None),
            ("", None),
            (":Debian", None),
            // Names are case-sensitive and exact.
            ("debian", None),
            ("Debian ", None),
            ("RedHat", None),
            ("Alpine Linux", None),
        ] {
            assert_eq!(scheme_for_ecosystem(ecosystem), expected, "{ecosystem:?}");
        }
    }

    // --- OSV ranges ----------------------------------------------------------

    fn events(json: &str) -> Vec<Event> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn events_deserialize_from_osv_json() {
        let parsed = events(
            r#"[{"introduced": "0"}, {"fixed": "1.2-3"}, {"introduced": "2.0"},
                {"last_affected": "2.5"}, {"limit": "*"}]"#,
        );
        assert_eq!(
            parsed,
            vec![
                Event::Introduced("0".into()),
                Event::Fixed("1.2-3".into()),
                Event::Introduced("2.0".into()),
                Event::LastAffected("2.5".into()),
                Event::Limit("*".into()),
            ]
        );
        assert_eq!(serde_json::to_string(&parsed[3]).unwrap(), r#"{"last_affected":"2.5"}"#);
        assert_eq!(parsed[1].version(), "1.2-3");
        assert!(serde_json::from_str::<Event>(r#"{"introduced": "1", "fixed": "2"}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"unknown": "1"}"#).is_err());
    }

    #[test]
    fn in_range_follows_osv_pair_semantics() {
        let dpkg = Scheme::Dpkg;
        // introduced "0" is before every version, even ones below "0".
        assert_eq!(compare(dpkg, "0~", "0"), Less);
        assert!(in_range(dpkg, "0~", Some("0"), Some("1.0-2"), None));
        assert!(in_range(dpkg, "1.0-1", Some("0"), Some("1.0-2"), None));
        assert!(!in_range(dpkg, "1.0-2", Some("0"), Some("1.0-2"), None));
        assert!(!in_range(dpkg, "1:0.1-1", Some("0"), Some("1.0-2"), None));
        // No lower bound is the same as "0".
        assert!(in_range(dpkg, "0~", None, Some("1.0-2"), None));
        // introduced is inclusive, fixed exclusive, last_affected inclusive.
        assert!(!in_range(dpkg, "1.4-9", Some("1.5-1"), None, Some("1.5-3")));
        assert!(in_range(dpkg, "1.5-1", Some("1.5-1"), None, Some("1.5-3")));
        assert!(in_range(dpkg, "1.5-3", Some("1.5-1"), None, Some("1.5-3")));
        assert!(!in_range(dpkg, "1.5-3+deb12u1", Some("1.5-1"), None, Some("1.5-3")));
        // No upper bound: everything from introduced on.
        assert!(in_range(dpkg, "99:9", Some("1.5-1"), None, None));
        assert!(in_range(dpkg, "anything", None, None, None));
        // Equality is the scheme's: 1.5-01 is 1.5-1.
        assert!(in_range(dpkg, "1.5-01", Some("1.5-1"), Some("1.5-2"), None));
        // Both bounds (invalid OSV): below both.
        assert!(in_range(dpkg, "1.1", Some("1.0"), Some("2.0"), Some("1.5")));
        assert!(!in_range(dpkg, "1.6", Some("1.0"), Some("2.0"), Some("1.5")));
        // An empty or inverted pair affects nothing.
        assert!(!in_range(dpkg, "1.0", Some("1.0"), Some("1.0"), None));
        assert!(!in_range(dpkg, "1.5", Some("2.0"), Some("1.0"), None));

        // The same rules under the other schemes' orderings.
        assert!(in_range(Scheme::Rpm, "0:0~0-0", Some("0"), Some("1.0-1.el9"), None));
        assert!(in_range(Scheme::Rpm, "1.0~rc1-1.el9", Some("0"), Some("1.0-1.el9"), None));
        assert!(!in_range(Scheme::Rpm, "1.0^git1-1.el9", Some("0"), Some("1.0-1.el9"), None));
        assert!(in_range(Scheme::Apk, "1.2.3_rc1-r0", Some("0"), Some("1.2.3-r0"), None));
        assert!(!in_range(Scheme::Apk, "1.2.3_p1-r0", Some("0"), Some("1.2.3-r0"), None));
    }

    #[test]
    fn events_follow_the_osv_evaluation_algorithm() {
        let semverish = Scheme::Dpkg;
        // The OSV schema's examples.
        let unfixed = events(r#"[{"introduced": "0"}]"#);
        assert!(affected_by_events(semverish, "0~", &unfixed));
        assert!(affected_by_events(semverish, "99:99", &unfixed));

        let fixed = events(r#"[{"introduced": "0"}, {"fixed": "1.0.2"}]"#);
        assert!(affected_by_events(semverish, "1.0.1", &fixed));
        assert!(!affected_by_events(semverish, "1.0.2", &fixed));

        let multiple =
            events(r#"[{"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}]"#);
        for (version, affected) in [
            ("0.9", false),
            ("1.0.0", true),
            ("1.0.1", true),
            ("1.0.2", false),
            ("2.9", false),
            ("3.0.0", true),
            ("3.2.4", true),
            ("3.2.5", false),
            ("4.0", false),
        ] {
            assert_eq!(affected_by_events(semverish, version, &multiple), affected, "{version}");
            // The listed order does not matter: events are sorted first.
            let mut reversed = multiple.clone();
            reversed.reverse();
            assert_eq!(affected_by_events(semverish, version, &reversed), affected, "reversed, {version}");
        }

        let last = events(r#"[{"introduced": "0"}, {"last_affected": "2.1.214"}]"#);
        assert!(affected_by_events(semverish, "2.1.214", &last));
        assert!(!affected_by_events(semverish, "2.1.215", &last));

        // Limits: only versions below some limit are in the range; "*" is infinite.
        let limited = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}]"#);
        assert!(affected_by_events(semverish, "1.5", &limited));
        assert!(!affected_by_events(semverish, "2.0", &limited));
        let limits = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}, {"limit": "*"}]"#);
        assert!(affected_by_events(semverish, "5.0", &limits));
        let two_limits = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}, {"limit": "3.0"}]"#);
        assert!(affected_by_events(semverish, "2.5", &two_limits));
        assert!(!affected_by_events(semverish, "3.0", &two_limits));

        // No events, or no introduced event, affect nothing.
        assert!(!affected_by_events(semverish, "1.0", &[]));
        assert!(!affected_by_events(semverish, "1.0", &events(r#"[{"fixed": "2.0"}]"#)));
        assert!(!affected_by_events(semverish, "1.0", &events(r#"[{"limit": "*"}]"#)));

        // Equal versions keep their listed order: an empty interval stays empty.
        let empty = events(r#"[{"introduced": "1.0"}, {"fixed": "1.0"}]"#);
        assert!(!affected_by_events(semverish, "1.0", &empty));
        assert!(!affected_by_events(semverish, "1.1", &empty));

        // A real Debian shape: introduced "0", fixed in a stable update.
        let glibc = events(r#"[{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]"#);
        assert!(affected_by_events(Scheme::Dpkg, "2.36-9+deb12u3", &glibc));
        assert!(affected_by_events(Scheme::Dpkg, "2.36-9", &glibc));
        assert!(!affected_by_events(Scheme::Dpkg, "2.36-9+deb12u4", &glibc));
        assert!(!affected_by_events(Scheme::Dpkg, "2.37-1", &glibc));
        // …and Alpine's.
        let openssl = events(r#"[{"introduced": "0"}, {"fixed": "3.1.4-r1"}]"#);
        assert!(affected_by_events(Scheme::Apk, "3.1.4-r0", &openssl));
        assert!(!affected_by_events(Scheme::Apk, "3.1.4-r1", &openssl));
        assert!(!affected_by_events(Scheme::Apk, "3.1.5-r0", &openssl));
        // …and an RPM one with an epoch.
        let rpm = events(r#"[{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]"#);
        assert!(affected_by_events(Scheme::Rpm, "1:3.0.7-24.el9", &rpm));
        assert!(!affected_by_events(Scheme::Rpm, "1:3.0.7-25.el9_3", &rpm));
        assert!(!affected_by_events(Scheme::Rpm, "1:3.0.7-27.el9", &rpm));
    }

    // --- properties ----------------------------------------------------------

    /// Transitivity over all orderings of three versions: `x <= y <= z`
    /// implies `x <= z`, strictly if either step is strict.
    fn check_transitive(scheme: Scheme, v: [&str; 3]) -> Result<(), TestCaseError> {
        for [x, y, z] in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let (x, y, z) = (v[x], v[y], v[z]);
            let (xy, yz) = (compare(scheme, x, y), compare(scheme, y, z));
            if xy != Greater && yz != Greater {
                let xz = compare(scheme, x, z);
                let expected = if xy == Less || yz == Less { Less } else { Equal };
                prop_assert_eq!(xz, expected, "{:?}: {:?} {:?} {:?} {:?} {:?}", scheme, x, xy, y, yz, z);
            }
        }
        Ok(())
    }

    fn check_sorted_pairwise(scheme: Scheme, mut versions: Vec<String>) -> Result<(), TestCaseError> {
        versions.sort_by(|a, b| compare(scheme, a, b));
        for (i, a) in versions.iter().enumerate() {
            for b in versions.get(i + 1..).unwrap_or_default() {
                prop_assert_ne!(compare(scheme, a, b), Greater, "{:?}: {:?} after {:?}", scheme, a, b);
            }
        }
        Ok(())
    }

    /// Well-formed Debian versions over a small alphabet, so that equal and
    /// near-equal versions are common.
    const DPKG_VERSION: &str = "([0-2]:)?[0-2][0-2ab.+~]{0,5}(-[0-2ab.+~]{1,3})?";
    /// Well-formed RPM EVRs, with tilde and caret.
    const RPM_VERSION: &str = "([0-2]:)?[0-2][0-2ab._~^]{0,5}(-[0-2ab.~^]{1,3})?";
    /// Well-formed apk versions, every token kind included.
    const APK_VERSION: &str =
        "[0-2]{1,2}(\\.[0-2]{1,2}){0,2}[ab]?(_(alpha|beta|pre|rc|p|git)[0-2]?){0,2}(~[0-9a-f]{1,2})?(-r[0-2])?";
    /// Junk: every character that means something to some scheme.
    const JUNK: &str = "[0-2ab.~^_:+-]{0,7}";

    fn well_formed(scheme: Scheme) -> &'static str {
        match scheme {
            Scheme::Dpkg => DPKG_VERSION,
            Scheme::Rpm => RPM_VERSION,
            Scheme::Apk => APK_VERSION,
        }
    }

    fn scheme() -> impl Strategy<Value = Scheme> {
        proptest::sample::select(SCHEMES.to_vec())
    }

    fn versions(scheme: Scheme, len: usize) -> BoxedStrategy<Vec<String>> {
        proptest::collection::vec(well_formed(scheme), len).boxed()
    }

    proptest! {
        #[test]
        fn reflexive_on_any_string(scheme in scheme(), s in any::<String>()) {
            prop_assert_eq!(compare(scheme, &s, &s), Equal);
        }

        #[test]
        fn reflexive_on_printable_strings(scheme in scheme(), s in "\\PC{0,40}") {
            prop_assert_eq!(compare(scheme, &s, &s), Equal);
            // A copy (another allocation) is equal too.
            prop_assert_eq!(compare(scheme, &s, &s.clone()), Equal);
        }

        #[test]
        fn antisymmetric_and_never_panics_on_any_strings(scheme in scheme(), a in any::<String>(), b in any::<String>()) {
            prop_assert_eq!(compare(scheme, &a, &b), compare(scheme, &b, &a).reverse());
        }

        #[test]
        fn antisymmetric_on_junk(scheme in scheme(), a in JUNK, b in JUNK) {
            prop_assert_eq!(compare(scheme, &a, &b), compare(scheme, &b, &a).reverse());
        }

        #[test]
        fn antisymmetric_on_well_formed(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 2)))
        ) {
            prop_assert_eq!(compare(scheme, &v[0], &v[1]), compare(scheme, &v[1], &v[0]).reverse());
        }

        #[test]
        fn transitive_on_well_formed_triples(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 3)))
        ) {
            check_transitive(scheme, [&v[0], &v[1], &v[2]])?;
        }

        #[test]
        fn transitive_on_junk_triples(scheme in scheme(), a in JUNK, b in JUNK, c in JUNK) {
            check_transitive(scheme, [&a, &b, &c])?;
        }

        #[test]
        fn sorting_agrees_with_every_pair(
            (scheme, v) in scheme().prop_flat_map(|scheme| {
                (Just(scheme), proptest::collection::vec(well_formed(scheme), 0..16))
            })
        ) {
            check_sorted_pairwise(scheme, v)?;
        }

        #[test]
        fn events_never_panic(
            scheme in scheme(),
            version in "\\PC{0,12}",
            list in proptest::collection::vec(("[0-3]", "\\PC{0,8}"), 0..8),
        ) {
            let list: Vec<Event> = list
                .into_iter()
                .map(|(kind, v)| match kind.as_str() {
                    "0" => Event::Introduced(v),
                    "1" => Event::Fixed(v),
                    "2" => Event::LastAffected(v),
                    _ => Event::Limit(v),
                })
                .collect();
            let _ = affected_by_events(scheme, &version, &list);
        }

        #[test]
        fn a_single_pair_of_events_is_in_range(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 3))),
            last in any::<bool>(),
        ) {
            let (version, introduced, upper) = (&v[0], &v[1], &v[2]);
            prop_assume!(compare(scheme, introduced, upper) == Less);
            let (events, expected) = if last {
                (
                    [Event::Introduced(introduced.clone()), Event::LastAffected(upper.clone())],
                    in_range(scheme, version, Some(introduced), None, Some(upper)),
                )
            } else {
                (
                    [Event::Introduced(introduced.clone()), Event::Fixed(upper.clone())],
                    in_range(scheme, version, Some(introduced), Some(upper), None),
                )
            };
            prop_assert_eq!(affected_by_events(scheme, version, &events), expected);
            let mut reversed = events.clone();
            reversed.reverse();
            prop_assert_eq!(affected_by_events(scheme, version, &reversed), expected);
        }
    }
}
