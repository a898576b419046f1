//! What a host's agent reports — its addresses, installed packages and listening sockets: the vocabulary
//! shared by the agent that reads it (`tlink agent`), the API that receives it and the matcher that checks
//! packages against advisories.

use serde::{Deserialize, Serialize};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Package {
    /// `dpkg`, `apk` or `rpm`.
    pub manager: String,
    pub name: String,
    pub version: String,
    /// Source package, when it differs (dpkg `Source:`, apk origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The source package's version when it differs from the package's (dpkg binNMUs: `Source: gnutls28
    /// (3.7.9-2+deb12u1)` for version `3.7.9-2+deb12u1+b1`). Advisories name source versions.
    #[serde(default, rename = "sourceVersion", skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
}

impl Package {
    /// The version advisories are matched against: the source package's when it differs (dpkg binNMUs).
    pub fn matched_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}

/// A host's addresses by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Addresses {
    #[serde(default)]
    pub private: Vec<String>,
    #[serde(default)]
    pub link_local: Vec<String>,
    #[serde(default)]
    pub public: Vec<String>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Port {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub address: String,
    pub port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_agents_spelling() {
        let p: Package = serde_json::from_str(
            r#"{"manager":"dpkg","name":"libgnutls30","version":"3.7.9-2+deb12u1+b1","source":"gnutls28","sourceVersion":"3.7.9-2+deb12u1"}"#,
        )
        .unwrap();
        assert_eq!(p.matched_version(), "3.7.9-2+deb12u1");
        let bare: Package = serde_json::from_str(r#"{"manager":"apk","name":"musl","version":"1.2.4-r2"}"#).unwrap();
        assert_eq!(bare.matched_version(), "1.2.4-r2");
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"manager":"apk","name":"musl","version":"1.2.4-r2"}"#);
    }
}
