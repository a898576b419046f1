//! Have I Been Pwned: the breaches that include an address (HIBP API v3 `breachedaccount`).
//!
//! This file exists because the breach lookup is a provider call, not a DNS check: it has its own API key,
//! its own failure modes (recorded in `hibp`, never failing the run) and only applies to an address.

use serde::{Deserialize, Serialize};

use crate::Toolbox;
use crate::provider::{self, Outcome};

/// Breaches kept in `hibp.breaches` (`breachCount` is always the full count).
const HIBP_MAX_BREACHES: usize = 1000;

/// The Have I Been Pwned section.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HibpSection {
    /// `ok` (answered; no breach is `ok` with `breachCount: 0`), `not_configured` (no API key),
    /// `not_applicable` (a domain target) or `error`.
    pub status: HibpStatus,
    /// How many breaches include the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach_count: Option<usize>,
    /// The breaches, with HIBP's own field names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaches: Option<Vec<HibpBreach>>,
    /// Why the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status of a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Seconds to wait before retrying, from HIBP's `retry-after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Default for HibpSection {
    fn default() -> Self {
        HibpSection::status(HibpStatus::NotApplicable)
    }
}

impl HibpSection {
    fn status(status: HibpStatus) -> HibpSection {
        HibpSection { status, breach_count: None, breaches: None, error: None, http_status: None, retry_after: None }
    }
}

/// The outcome of the HIBP call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HibpStatus {
    Ok,
    NotConfigured,
    NotApplicable,
    Error,
}

/// A breach as HIBP describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct HibpBreach {
    /// HIBP's identifier of the breach.
    pub name: String,
    pub title: String,
    /// The breached site's domain.
    pub domain: String,
    /// `YYYY-MM-DD`.
    pub breach_date: String,
    /// Accounts in the breach.
    pub pwn_count: u64,
    /// What leaked (`Email addresses`, `Passwords`...).
    pub data_classes: Vec<String>,
    pub is_verified: bool,
    pub is_sensitive: bool,
}

pub(super) async fn check_hibp(tb: &Toolbox, address: Option<&str>) -> HibpSection {
    let Some(address) = address else {
        return HibpSection::status(HibpStatus::NotApplicable);
    };
    let cfg = &tb.config().hibp;
    let path = format!("/breachedaccount/{}", encode_path_segment(address));
    let outcome = provider::get_json(
        tb,
        "Have I Been Pwned",
        cfg,
        &path,
        &[("truncateResponse", "false")],
        &[("hibp-api-key", cfg.api_key.as_str())],
    )
    .await;
    match outcome {
        Outcome::Ok(body) => match serde_json::from_value::<Vec<HibpBreach>>(body) {
            Ok(mut breaches) => {
                let count = breaches.len();
                breaches.truncate(HIBP_MAX_BREACHES);
                HibpSection {
                    breach_count: Some(count),
                    breaches: Some(breaches),
                    ..HibpSection::status(HibpStatus::Ok)
                }
            }
            Err(e) => HibpSection {
                error: Some(format!("Have I Been Pwned: unexpected answer (not a list of breaches): {e}")),
                ..HibpSection::status(HibpStatus::Error)
            },
        },
        Outcome::NotFound => {
            HibpSection { breach_count: Some(0), breaches: Some(Vec::new()), ..HibpSection::status(HibpStatus::Ok) }
        }
        Outcome::NotConfigured => HibpSection::status(HibpStatus::NotConfigured),
        Outcome::Error { message, http_status, retry_after } => {
            HibpSection { error: Some(message), http_status, retry_after, ..HibpSection::status(HibpStatus::Error) }
        }
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, for one path segment.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_encoded_as_one_path_segment() {
        assert_eq!(encode_path_segment("a.b+c@example.com"), "a.b%2Bc%40example.com");
        assert_eq!(encode_path_segment("x/y?z#%"), "x%2Fy%3Fz%23%25");
    }
}
