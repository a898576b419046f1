//! How severe an advisory is: the [`Severity`] scale, the base score of a
//! CVSS v3 vector, and the precedence of the sources that rate an advisory
//! (described in the module documentation of `osv`).
//!
//! This file exists because rating is a concern of its own, with outside
//! input of every quality (vectors missing metrics, distribution words,
//! unconfirmed urgencies) that must never override a real rating.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Affected, str_field};

/// How severe a vulnerability is, on the scale distributions and CVSS share.
///
/// Ordered from least to most severe, so `max` picks the worst. It
/// (de)serializes as the lower-case word (`"high"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not rated, or rated with a word this module does not know.
    Unknown,
    /// Not worth fixing on its own (Debian's "unimportant", Ubuntu's
    /// "negligible").
    Negligible,
    /// CVSS 0.1–3.9.
    Low,
    /// CVSS 4.0–6.9.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
}

impl Severity {
    /// Every severity, from least to most severe.
    pub const ALL: [Severity; 6] =
        [Severity::Unknown, Severity::Negligible, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The lower-case word: `"unknown"`, `"negligible"`, `"low"`,
    /// `"medium"`, `"high"` or `"critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Reads a severity word, ignoring case and surrounding whitespace.
    ///
    /// Besides the six names of [`Severity::as_str`] it accepts the words
    /// distributions use: `moderate` (Red Hat) is medium, `important` (Red
    /// Hat) is high, `unimportant` (Debian) is negligible, and `not yet
    /// assigned` (Debian) and `untriaged` (Ubuntu) are unknown. Anything
    /// else is `None`.
    pub fn parse(s: &str) -> Option<Severity> {
        let word = s.trim().to_ascii_lowercase();
        Some(match word.as_str() {
            "unknown" | "not yet assigned" | "untriaged" => Severity::Unknown,
            "negligible" | "unimportant" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// The CVSS 3.1 qualitative rating of a base score; `Unknown` for 0.0
    /// ("none") and for anything that is not a score.
    fn of_cvss_score(score: f64) -> Severity {
        if !(0.1..=10.0).contains(&score) {
            Severity::Unknown
        } else if score < 4.0 {
            Severity::Low
        } else if score < 7.0 {
            Severity::Medium
        } else if score < 9.0 {
            Severity::High
        } else {
            Severity::Critical
        }
    }
}

/// A CVSS v3 vector's base score and attack vector.
pub(super) struct CvssV3 {
    pub(super) score: f64,
    pub(super) attack_vector: &'static str,
}

/// The base score of a complete CVSS v3.0/v3.1 vector, when `kind` says it
/// is one (`CVSS_V3`) or the string itself does (`CVSS:3.`).
pub(super) fn cvss_v3(kind: &str, vector: &str) -> Option<CvssV3> {
    use cvss::v3::metric::base::AttackVector;

    let vector = vector.trim();
    if kind != "CVSS_V3" && !vector.starts_with("CVSS:3.") {
        return None;
    }
    let parsed: cvss::v3::Vector = vector.parse().ok()?;
    // A vector missing a base metric would score as if it were "none".
    let complete = parsed.av.is_some()
        && parsed.ac.is_some()
        && parsed.pr.is_some()
        && parsed.ui.is_some()
        && parsed.s.is_some()
        && parsed.c.is_some()
        && parsed.i.is_some()
        && parsed.a.is_some();
    if !complete {
        return None;
    }
    let score = parsed.base_score().value();
    if !(0.0..=10.0).contains(&score) {
        return None;
    }
    let attack_vector = match parsed.av? {
        AttackVector::Network => "network",
        AttackVector::Adjacent => "adjacent_network",
        AttackVector::Local => "local",
        AttackVector::Physical => "physical",
    };
    Some(CvssV3 { score, attack_vector })
}

/// A known severity from a severity word; unknown words and "unknown" give
/// `None`, so that they never override a real rating.
pub(super) fn known_severity(word: &str) -> Option<Severity> {
    // The Debian tracker marks an unconfirmed urgency with a trailing `*`.
    Severity::parse(word.trim().trim_end_matches('*')).filter(|s| *s != Severity::Unknown)
}

pub(super) fn advisory_severity(doc: &Map<String, Value>, cvss_score: Option<f64>, affected: &[Affected]) -> Severity {
    let from_cvss = cvss_score.map(Severity::of_cvss_score).filter(|s| *s != Severity::Unknown);
    let from_ubuntu = || {
        doc.get("severity")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .filter(|entry| str_field(entry, "type") == Some("Ubuntu"))
            .find_map(|entry| known_severity(str_field(entry, "score")?))
    };
    let from_database = || {
        doc.get("database_specific")
            .and_then(Value::as_object)
            .and_then(|db| known_severity(str_field(db, "severity")?))
    };
    let from_packages = || affected.iter().filter_map(|a| a.severity).max();
    from_cvss.or_else(from_ubuntu).or_else(from_database).or_else(from_packages).unwrap_or(Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_vectors_need_every_base_metric() {
        let full = cvss_v3("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").map(|c| c.score);
        assert_eq!(full, Some(9.8));
        assert!(cvss_v3("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H").is_none());
        assert!(cvss_v3("CVSS_V3", "CVSS:3.1").is_none());
        assert!(cvss_v3("CVSS_V3", "").is_none());
        assert!(cvss_v3("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P").is_none());
        assert!(cvss_v3("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").is_none());
        // Unknown values and repeated metrics are rejected.
        assert!(cvss_v3("CVSS_V3", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_none());
        assert!(cvss_v3("CVSS_V3", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_none());
    }

    #[test]
    fn cvss_ratings_follow_cvss_3_1() {
        for (score, expected) in [
            (0.0, Severity::Unknown),
            (0.1, Severity::Low),
            (3.9, Severity::Low),
            (4.0, Severity::Medium),
            (6.9, Severity::Medium),
            (7.0, Severity::High),
            (8.9, Severity::High),
            (9.0, Severity::Critical),
            (10.0, Severity::Critical),
            (f64::NAN, Severity::Unknown),
            (11.0, Severity::Unknown),
        ] {
            assert_eq!(Severity::of_cvss_score(score), expected, "{score}");
        }
    }
}
