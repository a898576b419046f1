//! Distribution releases as advisories and hosts both name them: an OSV
//! ecosystem string (`Ubuntu:Pro:18.04:LTS`) and an `/etc/os-release`
//! (`ID=ubuntu`, `VERSION_ID="18.04"`) reduced to the same [`Distro`].
//!
//! This file exists so that both sides of the match between an advisory and a
//! host are reduced by one set of rules, kept in one place.

use serde::{Deserialize, Serialize};

use crate::pkgver::{self, Scheme};

/// A distribution release, as security advisories and hosts both name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Distro {
    /// The distribution: `"Debian"`, `"Ubuntu"`, `"Alpine"`, `"Red Hat"`,
    /// `"Rocky Linux"` or `"AlmaLinux"` (OSV's spelling).
    pub family: String,
    /// The release the distribution's security team tracks: `"12"`,
    /// `"22.04"`, `"3.18"`, `"9"`.
    pub release: String,
}

impl Distro {
    fn new(family: &str, release: impl Into<String>) -> Self {
        Self { family: family.to_owned(), release: release.into() }
    }

    /// `family:release`, e.g. `"Debian:12"` or `"Red Hat:9"`: the one
    /// textual form used as a storage key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.family, self.release)
    }

    /// The version ordering of the distribution's packages, or `None` for a
    /// family [`pkgver`] does not order.
    pub fn scheme(&self) -> Option<Scheme> {
        pkgver::scheme_for_ecosystem(&self.family)
    }
}

/// Whether `s` is one or more dot-separated runs of ASCII digits.
fn is_dotted_number(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
}

/// The leading run of ASCII digits of `s` (possibly empty).
fn leading_digits(s: &str) -> &str {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..end).unwrap_or_default()
}

/// The major number of a dotted release (`"9.3"` → `"9"`), when it is one.
fn major_of(release: &str) -> Option<&str> {
    let major = release.split('.').next().unwrap_or_default();
    (is_dotted_number(release) && !major.is_empty()).then_some(major)
}

/// The distribution release an OSV ecosystem string names, or `None` when
/// the ecosystem names no release or is not a distribution handled here.
///
/// | ecosystem | distro |
/// | --- | --- |
/// | `Debian:12` | Debian 12 |
/// | `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`, `Ubuntu:23.10` | Ubuntu 22.04, 18.04, 23.10 |
/// | `Alpine:v3.18` | Alpine 3.18 |
/// | `Red Hat:enterprise_linux:9::appstream`, `Red Hat:rhel_eus:9.2::baseos` | Red Hat 9 |
/// | `Rocky Linux:9`, `AlmaLinux:9` | Rocky Linux 9, AlmaLinux 9 |
///
/// Bare family names (`Debian`), other ecosystems (`PyPI`), Red Hat
/// products other than RHEL (`Red Hat:openshift:4.13::el9`) and releases
/// that are not numbers (`Alpine:edge`) are `None`. Names are matched
/// exactly, as OSV ecosystem names are case-sensitive.
pub fn distro_of_ecosystem(ecosystem: &str) -> Option<Distro> {
    let (family, rest) = ecosystem.split_once(':')?;
    match family {
        "Debian" => is_dotted_number(rest).then(|| Distro::new("Debian", rest)),
        "Ubuntu" => {
            // Qualifiers (Pro, FIPS, FIPS-updates, LTS, …) surround the release.
            let release = rest.split(':').find(|part| is_dotted_number(part))?;
            Some(Distro::new("Ubuntu", release))
        }
        "Alpine" => {
            let release = rest.strip_prefix('v').unwrap_or(rest);
            is_dotted_number(release).then(|| Distro::new("Alpine", release))
        }
        "Red Hat" => {
            // product:version[:…], e.g. enterprise_linux:9::appstream.
            let mut parts = rest.split(':');
            let product = parts.next().unwrap_or_default();
            if product != "enterprise_linux" && !product.starts_with("rhel") {
                return None;
            }
            Some(Distro::new("Red Hat", major_of(parts.next()?)?))
        }
        "Rocky Linux" | "AlmaLinux" => Some(Distro::new(family, major_of(rest)?)),
        _ => None,
    }
}

/// The distribution release a host runs, from the `ID` and `VERSION_ID`
/// fields of its `/etc/os-release`, or `None` for a distribution not handled
/// here or a version that is not a release number.
///
/// The id is matched ignoring case; surrounding whitespace and quotes are
/// ignored on both. Debian, Red Hat (`rhel`), Rocky Linux (`rocky`) and
/// AlmaLinux (`almalinux`) keep the major number (`"9.3"` → `"9"`), Ubuntu
/// keeps `YY.MM`, Alpine keeps `major.minor` (`"3.18.4"` → `"3.18"`).
pub fn distro_of_os_release(id: &str, version_id: &str) -> Option<Distro> {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').trim().to_owned();
    let id = unquote(id).to_ascii_lowercase();
    let version = unquote(version_id);
    match id.as_str() {
        "debian" => Some(Distro::new("Debian", major_of(&version)?)),
        "rhel" => Some(Distro::new("Red Hat", major_of(&version)?)),
        "rocky" => Some(Distro::new("Rocky Linux", major_of(&version)?)),
        "almalinux" => Some(Distro::new("AlmaLinux", major_of(&version)?)),
        "ubuntu" => {
            let mut parts = version.split('.');
            let (year, month) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let release = format!("{year}.{month}");
            is_dotted_number(&release).then(|| Distro::new("Ubuntu", release))
        }
        "alpine" => {
            // 3.18.4, or 3.19.0_alpha20230901 on edge: major.minor digits.
            let mut parts = version.split('.');
            let major = parts.next().unwrap_or_default();
            let minor = leading_digits(parts.next().unwrap_or_default());
            let release = format!("{major}.{minor}");
            is_dotted_number(&release).then(|| Distro::new("Alpine", release))
        }
        _ => None,
    }
}
