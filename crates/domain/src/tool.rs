//! The names of the seven tools.
//!
//! A tool key is vocabulary shared by the API (`toolKey`), the stored reports and jobs, the alert rules and the
//! tools themselves, so it lives here rather than in the crate that runs the tools: code that only needs to name a
//! tool, or to know which asset types it accepts, does not have to depend on the network clients. What a tool's
//! result looks like (its JSON Schema) is the tools crate's to say.

use serde::{Deserialize, Serialize};

use crate::AssetType;

/// The seven tools, by their API key (`toolKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ToolKey {
    Dns,
    Whois,
    IpReputation,
    Email,
    Exposure,
    Ssl,
    ThreatFeed,
}

impl ToolKey {
    pub const ALL: &'static [ToolKey] = &[
        ToolKey::Dns,
        ToolKey::Whois,
        ToolKey::IpReputation,
        ToolKey::Email,
        ToolKey::Exposure,
        ToolKey::Ssl,
        ToolKey::ThreatFeed,
    ];

    /// The key as used in the API (`ip-reputation`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ToolKey::Dns => "dns",
            ToolKey::Whois => "whois",
            ToolKey::IpReputation => "ip-reputation",
            ToolKey::Email => "email",
            ToolKey::Exposure => "exposure",
            ToolKey::Ssl => "ssl",
            ToolKey::ThreatFeed => "threat-feed",
        }
    }

    /// Parses an API key; `None` for an unknown tool.
    pub fn parse(s: &str) -> Option<ToolKey> {
        ToolKey::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The asset types this tool accepts as a target, in the order a bare target string is tried.
    pub const fn accepts(self) -> &'static [AssetType] {
        match self {
            ToolKey::Dns => &[AssetType::Domain, AssetType::Url, AssetType::Email],
            ToolKey::Whois => &[AssetType::Ip, AssetType::Asn, AssetType::Domain, AssetType::Url, AssetType::Email],
            ToolKey::IpReputation => &[AssetType::Ip, AssetType::Domain, AssetType::Hash, AssetType::Url],
            ToolKey::Email => &[AssetType::Email, AssetType::Domain],
            ToolKey::Exposure => &[AssetType::Ip, AssetType::Domain, AssetType::Url],
            ToolKey::Ssl => &[AssetType::Ip, AssetType::Domain, AssetType::Url],
            ToolKey::ThreatFeed => &[AssetType::Ip, AssetType::Domain, AssetType::Url, AssetType::Hash],
        }
    }

    /// One line for `tlink tool list` and `GET /api/tools`.
    pub const fn description(self) -> &'static str {
        match self {
            ToolKey::Dns => {
                "DNS records (A, AAAA, NS, MX, CNAME, TXT, SOA, CAA) with TTLs from the configured resolvers"
            }
            ToolKey::Whois => "WHOIS over TCP 43 from whois.iana.org through every referral, parsed",
            ToolKey::IpReputation => "AbuseIPDB and VirusTotal reputation, and local blocklists",
            ToolKey::Email => {
                "MX, SPF and DMARC of a mail domain, with findings; Have I Been Pwned breaches of an address"
            }
            ToolKey::Exposure => "TCP connect scan, banner grab, product/version, CVE match and a 0-100 risk score",
            ToolKey::Ssl => "TLS handshake, certificate chain, trust and hostname checks, with findings",
            ToolKey::ThreatFeed => "AlienVault OTX pulses, GreyNoise classification, and local feed files",
        }
    }
}

impl std::fmt::Display for ToolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written() {
        for &key in ToolKey::ALL {
            assert_eq!(ToolKey::parse(key.as_str()), Some(key));
            assert_eq!(key.to_string(), key.as_str());
            assert_eq!(serde_json::to_value(key).ok(), Some(serde_json::Value::from(key.as_str())));
            assert!(!key.accepts().is_empty(), "{key}");
        }
        assert_eq!(ToolKey::parse("IP-REPUTATION"), None);
        assert_eq!(ToolKey::parse("ip_reputation"), None);
    }
}
