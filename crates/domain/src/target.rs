//! What a tool runs against: an observable of one of the tool's accepted asset types, normalised.
//!
//! A target is parsed where a run is asked for (the API, the command line, the scheduler) and then handed to the
//! tools as it is, so it lives beside [`ToolKey`] in the domain crate. It deserializes structurally (its four fields,
//! as it serializes) so that a queued job can carry an already-parsed target; only [`Target::parse`] and
//! [`Target::for_asset`] read user input.

use serde::{Deserialize, Serialize};

use crate::{AssetType, AssetValue, ToolKey};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    kind: AssetType,
    value: String,
    host: Option<String>,
    port: Option<u16>,
}

/// Why a string or an asset cannot be a tool's target. The message says which asset types the tool accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTarget(pub String);

impl Target {
    /// Parses a target typed by a user for `tool`: each of the tool's accepted types is tried in order
    /// ([`ToolKey::accepts`]). The `ssl` tool also takes `host:port` (`[v6]:port` for IPv6).
    ///
    /// # Errors
    /// [`InvalidTarget`] saying which types the tool accepts.
    pub fn parse(tool: ToolKey, raw: &str) -> Result<Target, InvalidTarget> {
        let raw = raw.trim();
        let (body, port) = match tool {
            ToolKey::Ssl => split_port(raw),
            _ => (raw, None),
        };
        for &kind in tool.accepts() {
            if let Ok(value) = AssetValue::parse(kind, body) {
                let mut target = Target::from_value(value);
                if port.is_some() {
                    target.port = port;
                }
                if target.port == Some(0) {
                    return Err(InvalidTarget(format!("`{raw}`: the port must be 1-65535")));
                }
                return Ok(target);
            }
        }
        let kinds: Vec<&str> = tool.accepts().iter().map(|k| k.as_str()).collect();
        Err(InvalidTarget(format!(
            "`{raw}` is not a valid target for the {tool} tool, which accepts {}",
            kinds.join(", ")
        )))
    }

    /// The target of an existing asset.
    ///
    /// # Errors
    /// [`InvalidTarget`] when `tool` does not accept the asset's type.
    pub fn for_asset(tool: ToolKey, value: AssetValue) -> Result<Target, InvalidTarget> {
        if !tool.accepts().contains(&value.kind()) {
            let kinds: Vec<&str> = tool.accepts().iter().map(|k| k.as_str()).collect();
            return Err(InvalidTarget(format!(
                "the {tool} tool does not accept {} assets; it accepts {}",
                value.kind().as_str(),
                kinds.join(", ")
            )));
        }
        Ok(Target::from_value(value))
    }

    fn from_value(value: AssetValue) -> Target {
        let kind = value.kind();
        let value = value.into_value();
        let (host, port) = match kind {
            AssetType::Domain | AssetType::Ip => (Some(value.clone()), None),
            AssetType::Email => (value.rsplit_once('@').map(|(_, d)| d.to_string()), None),
            AssetType::Url => match url::Url::parse(&value) {
                Ok(u) => (
                    u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()),
                    u.port_or_known_default(),
                ),
                Err(_) => (None, None),
            },
            AssetType::Hash | AssetType::Asn | AssetType::Certificate => (None, None),
        };
        Target { kind, value, host, port }
    }

    /// The asset type the target was read as.
    pub fn kind(&self) -> AssetType {
        self.kind
    }

    /// The canonical spelling (`example.com`, `1.2.3.4`, `AS15169`, `user@example.com`, a URL, a hash).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The host to connect to or look up: the domain or IP itself, a URL's host, an address's domain.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// A port named by the target (`host:port` for `ssl`, or a URL's port).
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// Splits `host:port` and `[v6]:port`; a bare IPv6 address keeps its colons.
fn split_port(raw: &str) -> (&str, Option<u16>) {
    if let Some(rest) = raw.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        return (host, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    if raw.matches(':').count() == 1
        && !raw.contains("://")
        && let Some((host, port)) = raw.rsplit_once(':')
        && let Ok(port) = port.parse()
    {
        return (host, Some(port));
    }
    (raw, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_tools_targets() {
        let t = Target::parse(ToolKey::Dns, " Example.COM ").unwrap();
        assert_eq!((t.kind(), t.value(), t.host()), (AssetType::Domain, "example.com", Some("example.com")));
        let t = Target::parse(ToolKey::Whois, "as15169").unwrap();
        assert_eq!((t.kind(), t.value(), t.host()), (AssetType::Asn, "AS15169", None));
        let t = Target::parse(ToolKey::Email, "Bob@Example.com").unwrap();
        assert_eq!((t.kind(), t.host()), (AssetType::Email, Some("example.com")));
        let t = Target::parse(ToolKey::Ssl, "example.com:8443").unwrap();
        assert_eq!((t.host(), t.port()), (Some("example.com"), Some(8443)));
        let t = Target::parse(ToolKey::Ssl, "[::1]:8443").unwrap();
        assert_eq!((t.kind(), t.host(), t.port()), (AssetType::Ip, Some("::1"), Some(8443)));
        let t = Target::parse(ToolKey::Ssl, "https://example.com:9443/x").unwrap();
        assert_eq!((t.kind(), t.host(), t.port()), (AssetType::Url, Some("example.com"), Some(9443)));
        let t = Target::parse(ToolKey::Exposure, "2001:db8::1").unwrap();
        assert_eq!(t.kind(), AssetType::Ip);
    }

    #[test]
    fn port_zero_is_refused() {
        for raw in ["example.com:0", "[::1]:0", "https://example.com:0/"] {
            let err = Target::parse(ToolKey::Ssl, raw).unwrap_err().to_string();
            assert!(err.contains("the port must be 1-65535"), "{raw}: {err}");
        }
        assert_eq!(Target::parse(ToolKey::Ssl, "example.com:1").unwrap().port(), Some(1));
    }

    #[test]
    fn refuses_what_the_tool_cannot_take() {
        let err = Target::parse(ToolKey::Dns, "1.2.3.4").unwrap_err().to_string();
        assert!(err.contains("accepts DOMAIN, URL, EMAIL"), "{err}");
        assert!(Target::parse(ToolKey::Exposure, "example.com:22").is_err());
        assert!(Target::parse(ToolKey::IpReputation, "AS15169").is_err());
        let asset = AssetValue::parse(AssetType::Hash, &"a".repeat(64)).unwrap();
        assert!(Target::for_asset(ToolKey::Ssl, asset).is_err());
    }

    #[test]
    fn a_parsed_target_travels_as_its_four_fields() {
        let t = Target::parse(ToolKey::Ssl, "https://example.com:9443/x").unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "URL", "value": "https://example.com:9443/x", "host": "example.com", "port": 9443})
        );
        assert_eq!(serde_json::from_value::<Target>(json).unwrap(), t);
        let t = Target::parse(ToolKey::Whois, "AS15169").unwrap();
        assert_eq!(serde_json::from_value::<Target>(serde_json::to_value(&t).unwrap()).unwrap(), t);
    }
}
