//! The egress policy: which addresses a tool may connect to on a user's behalf.
//!
//! Targets come from users, so without a policy the server would scan its own network (SSRF). Unless
//! `allow_private_targets` is set, only globally routable unicast addresses are allowed; networks listed in
//! `egress_allow` are exempt. The check runs on resolved addresses, so DNS cannot smuggle in 127.0.0.1.
//! Provider base URLs and resolvers come from the operator's configuration and are not subject to it.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::{ToolError, ToolsConfig};

#[derive(Debug, Clone)]
pub struct Egress {
    allow_private: bool,
    allow: Vec<IpNet>,
}

impl Egress {
    /// # Errors
    /// [`ToolError::InvalidInput`] naming an `egress_allow` entry that is not a CIDR.
    pub fn from_config(config: &ToolsConfig) -> Result<Egress, ToolError> {
        let allow = config
            .egress_allow
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ToolError::InvalidInput(format!("tools.egress_allow: `{s}` is not a CIDR")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Egress { allow_private: config.allow_private_targets, allow })
    }

    /// A policy that allows everything (tests and the CLI with `--allow-private`).
    pub fn permissive() -> Egress {
        Egress { allow_private: true, allow: Vec::new() }
    }

    /// Whether `ip` may be contacted.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_global(ip) || self.allow.iter().any(|n| n.contains(&ip))
    }

    /// # Errors
    /// [`ToolError::Refused`] naming the address and why, as a sentence: `127.0.0.1 is a loopback address; …`.
    pub fn check(&self, ip: IpAddr) -> Result<(), ToolError> {
        if self.allows(ip) { Ok(()) } else { Err(ToolError::Refused(format!("{ip} is {}; {POLICY}", describe(ip)))) }
    }

    /// Keeps the allowed addresses of `host`.
    ///
    /// # Errors
    /// [`ToolError::Refused`] when `addrs` is non-empty and every address is refused;
    /// [`ToolError::Failed`] when it is empty.
    pub fn filter(&self, host: &str, addrs: Vec<IpAddr>) -> Result<Vec<IpAddr>, ToolError> {
        let Some(&first) = addrs.first() else {
            return Err(ToolError::Failed(format!("{host} has no address")));
        };
        let count = addrs.len();
        let allowed: Vec<IpAddr> = addrs.into_iter().filter(|ip| self.allows(*ip)).collect();
        if !allowed.is_empty() {
            return Ok(allowed);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Err(if bare.parse::<IpAddr>().is_ok_and(|ip| ip == first) {
            ToolError::Refused(format!("{first} is {}; {POLICY}", describe(first)))
        } else if count == 1 {
            ToolError::Refused(format!("{host} resolves to {first}, {}; {POLICY}", describe(first)))
        } else {
            ToolError::Refused(format!(
                "every address of {host} is refused, e.g. {first}, {}; {POLICY}",
                describe(first)
            ))
        })
    }
}

/// Why a refused address is refused, the second half of every refusal message.
const POLICY: &str = "tools connect to such addresses only when tools.allow_private_targets is set or the network is \
                      listed in tools.egress_allow";

/// The address's range with its article, for messages: `a loopback address`, `an unspecified address`,
/// `a link-local address`.
pub fn describe(ip: IpAddr) -> &'static str {
    match classify(ip) {
        "loopback" => "a loopback address",
        "private" => "a private address",
        "link_local" => "a link-local address",
        "multicast" => "a multicast address",
        "unspecified" => "an unspecified address",
        "shared" => "a shared (carrier-grade NAT) address",
        "documentation" => "a documentation address",
        "unique_local" => "a unique local address",
        "public" => "a public address",
        _ => "a reserved address",
    }
}

/// A short name of the address's range, for messages and results: `loopback`, `private`, `link_local`,
/// `multicast`, `unspecified`, `reserved`, `shared`, `documentation`, `unique_local` or `public`.
pub fn classify(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                "loopback"
            } else if v6.is_unspecified() {
                "unspecified"
            } else if v6.is_multicast() {
                "multicast"
            } else if seg0 & 0xffc0 == 0xfe80 {
                "link_local"
            } else if seg0 & 0xfe00 == 0xfc00 {
                "unique_local"
            } else if seg0 == 0x2001 && v6.segments()[1] == 0x0db8 {
                "documentation"
            } else if seg0 & 0xe000 == 0x2000 {
                "public"
            } else {
                "reserved"
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> &'static str {
    let o = ip.octets();
    if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link_local"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if ip.is_broadcast() || o[0] >= 240 {
        "reserved"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        "shared"
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        "documentation"
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        "reserved"
    } else {
        "public"
    }
}

/// Globally routable unicast.
pub fn is_global(ip: IpAddr) -> bool {
    classify(ip) == "public"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_ranges() {
        for (ip, want) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link_local"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "documentation"),
            ("255.255.255.255", "reserved"),
            ("8.8.8.8", "public"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link_local"),
            ("fd00::1", "unique_local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("2001:db8::1", "documentation"),
            ("2606:4700::1111", "public"),
        ] {
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn refuses_private_unless_allowed() {
        let strict = Egress::from_config(&ToolsConfig::default()).unwrap();
        assert!(strict.check("127.0.0.1".parse().unwrap()).is_err());
        assert!(strict.check("1.1.1.1".parse().unwrap()).is_ok());
        let err = strict.filter("evil.test", vec!["127.0.0.1".parse().unwrap()]).unwrap_err();
        assert!(
            matches!(&err, ToolError::Refused(m) if m.starts_with("evil.test resolves to 127.0.0.1, a loopback address; ")),
            "{err}"
        );
        let mixed = strict.filter("mixed.test", vec!["10.0.0.1".parse().unwrap(), "1.1.1.1".parse().unwrap()]).unwrap();
        assert_eq!(mixed, vec!["1.1.1.1".parse::<IpAddr>().unwrap()]);
        let cfg = ToolsConfig { egress_allow: vec!["10.0.0.0/8".into()], ..ToolsConfig::default() };
        assert!(Egress::from_config(&cfg).unwrap().check("10.9.9.9".parse().unwrap()).is_ok());
        let cfg = ToolsConfig { allow_private_targets: true, ..ToolsConfig::default() };
        assert!(Egress::from_config(&cfg).unwrap().check("127.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn refusals_read_as_sentences() {
        let strict = Egress::from_config(&ToolsConfig::default()).unwrap();
        let refusal = |ip: &str| match strict.check(ip.parse().unwrap()) {
            Err(ToolError::Refused(m)) => m,
            other => panic!("{ip}: expected a refusal, got {other:?}"),
        };
        let policy = "tools connect to such addresses only when tools.allow_private_targets is set or the network \
                      is listed in tools.egress_allow";
        for (ip, sentence) in [
            ("127.0.0.1", "127.0.0.1 is a loopback address"),
            ("0.0.0.0", "0.0.0.0 is an unspecified address"),
            ("169.254.1.1", "169.254.1.1 is a link-local address"),
            ("10.1.2.3", "10.1.2.3 is a private address"),
            ("100.64.0.1", "100.64.0.1 is a shared (carrier-grade NAT) address"),
            ("255.255.255.255", "255.255.255.255 is a reserved address"),
            ("fd00::1", "fd00::1 is a unique local address"),
            ("fe80::1", "fe80::1 is a link-local address"),
            ("::", ":: is an unspecified address"),
        ] {
            assert_eq!(refusal(ip), format!("{sentence}; {policy}"));
        }
        let by_name = |host: &str, addrs: &[&str]| {
            let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
            strict.filter(host, addrs).unwrap_err().to_string()
        };
        assert_eq!(by_name("127.0.0.1", &["127.0.0.1"]), format!("127.0.0.1 is a loopback address; {policy}"));
        assert_eq!(by_name("[::1]", &["::1"]), format!("::1 is a loopback address; {policy}"));
        assert_eq!(
            by_name("intra.test", &["169.254.1.1"]),
            format!("intra.test resolves to 169.254.1.1, a link-local address; {policy}")
        );
        assert_eq!(
            by_name("intra.test", &["10.0.0.1", "0.0.0.0"]),
            format!("every address of intra.test is refused, e.g. 10.0.0.1, a private address; {policy}")
        );
    }
}
