//! apk-tools' version ordering (its token grammar with `_alpha` … `_p`
//! suffixes, `~hash` and `-rN`), used by Alpine, Wolfi, Chainguard and the
//! other apk-based distributions.
//!
//! This file exists so that the port of apk-tools' `version.c` tokenizer and
//! comparison sits beside the apk-tools test data that pins it.

use std::cmp::Ordering;

use super::cmp_decimal;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgver::Scheme;
    use crate::pkgver::testing::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

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
}
