//! `tlink agent`: reports this host to a tlink server — hostname, OS, kernel, addresses, installed packages
//! (dpkg, apk) and listening ports — then a heartbeat every interval, with only a digest of the inventory
//! unless it changed or the server asks for it. Reads only world-readable files (no root needed); every
//! path is below `--root`, so it can also report a mounted image or test fixtures. Keeps running through
//! server outages, retrying with backoff.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
pub use tlink_domain::{Addresses, Package, Port};

pub struct Options {
    pub server: String,
    pub token: String,
    pub interval: Duration,
    pub root: PathBuf,
    pub once: bool,
    pub tags: Vec<Tag>,
}

/// A `key=value` tag the agent reports with the host (`--tag`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for Tag {
    type Err = String;

    fn from_str(s: &str) -> Result<Tag, String> {
        let (key, value) = s.split_once('=').ok_or_else(|| format!("`{s}`: a tag is key=value"))?;
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(format!("`{s}`: the key must be 1 to 128 characters, the value at most 256"));
        }
        Ok(Tag { key: key.to_string(), value: value.trim().to_string() })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    instance_id: &'a str,
    hostname: &'a str,
    os_version: Option<&'a str>,
    os_id: Option<&'a str>,
    os_version_id: Option<&'a str>,
    kernel: Option<&'a str>,
    agent_version: &'a str,
    ip_addresses: &'a Addresses,
    tags: &'a [Tag],
    inventory_digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packages: Option<&'a [Package]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<&'a [Port]>,
}

/// What is known about the host at one moment.
pub struct Host {
    pub instance_id: String,
    pub hostname: String,
    pub os_version: Option<String>,
    /// os-release `ID` and `VERSION_ID` (e.g. `debian`, `12`): the server matches packages by release.
    pub os_id: Option<String>,
    pub os_version_id: Option<String>,
    pub kernel: Option<String>,
    pub addresses: Addresses,
    pub packages: Vec<Package>,
    pub ports: Vec<Port>,
}

impl Host {
    /// Hex SHA-256 of the inventory (packages and ports, sorted).
    pub fn digest(&self) -> String {
        let body = serde_json::json!({"packages": self.packages, "ports": self.ports}).to_string();
        Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).ok()
}

/// Reads the host below `root`.
pub fn collect(root: &Path) -> Host {
    let line = |p: &str| read(root, p).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let hostname =
        line("proc/sys/kernel/hostname").or_else(|| line("etc/hostname")).unwrap_or_else(|| "unknown".into());
    let instance_id = line("etc/machine-id").unwrap_or_else(|| hostname.clone());
    let release = read(root, "etc/os-release").unwrap_or_default();
    let os_version = os_release(&release);
    let os_id = os_release_field(&release, "ID");
    let os_version_id = os_release_field(&release, "VERSION_ID");
    let mut packages = read(root, "var/lib/dpkg/status").map(|s| dpkg_status(&s)).unwrap_or_default();
    packages.extend(read(root, "lib/apk/db/installed").map(|s| apk_installed(&s)).unwrap_or_default());
    let (rpm_sqlite_db, rpm_bdb_db) = (root.join("var/lib/rpm/rpmdb.sqlite"), root.join("var/lib/rpm/Packages"));
    if rpm_sqlite_db.is_file() {
        packages.extend(rpm_sqlite(&rpm_sqlite_db));
    } else if rpm_bdb_db.is_file() {
        packages.extend(rpm_bdb(&rpm_bdb_db));
    }
    packages.sort();
    let mut ports = BTreeSet::new();
    for (file, protocol) in [("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")] {
        if let Some(text) = read(root, &format!("proc/net/{file}")) {
            ports.extend(listening(&text, protocol));
        }
    }
    let mut ips = BTreeSet::new();
    ips.extend(read(root, "proc/net/fib_trie").map(|s| fib_trie_local(&s)).unwrap_or_default());
    ips.extend(read(root, "proc/net/if_inet6").map(|s| if_inet6(&s)).unwrap_or_default());
    Host {
        instance_id,
        hostname,
        os_version,
        os_id,
        os_version_id,
        kernel: line("proc/sys/kernel/osrelease"),
        addresses: classify(ips),
        packages,
        ports: ports.into_iter().collect(),
    }
}

/// One field of os-release (quotes removed), when present and not empty.
pub fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty())
}

/// `PRETTY_NAME`, or `NAME VERSION_ID`, from os-release.
pub fn os_release(text: &str) -> Option<String> {
    let get = |key: &str| os_release_field(text, key);
    get("PRETTY_NAME")
        .or_else(|| Some(format!("{} {}", get("NAME")?, get("VERSION_ID").unwrap_or_default()).trim().to_string()))
}

/// Installed packages from dpkg's status file.
pub fn dpkg_status(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|para| {
            let field = |key: &str| {
                para.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(|v| v.trim().to_string())
            };
            let status = field("Status")?;
            if !status.ends_with(" installed") {
                return None;
            }
            let name = field("Package")?;
            let version = field("Version")?;
            let source_field = field("Source").unwrap_or_default();
            let mut parts = source_field.split_whitespace();
            let source = parts.next().map(str::to_string);
            let source_version = parts
                .next()
                .and_then(|v| v.strip_prefix('(')?.strip_suffix(')'))
                .map(str::to_string)
                .filter(|v| *v != version);
            Some(Package {
                manager: "dpkg".into(),
                source: source.filter(|s| !s.is_empty() && *s != name),
                name,
                version,
                source_version,
            })
        })
        .collect()
}

/// Installed packages from apk's database (`P:` name, `V:` version, `o:` origin).
pub fn apk_installed(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|para| {
            let field = |key: &str| para.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string());
            let name = field("P:")?;
            let source = field("o:").filter(|o| *o != name);
            Some(Package { manager: "apk".into(), name, version: field("V:")?, source, source_version: None })
        })
        .collect()
}

/// Installed packages from rpm's SQLite database (`/var/lib/rpm/rpmdb.sqlite`: RHEL, Rocky and AlmaLinux 9,
/// Fedora 33+), opened read-only as an immutable file so reading needs neither root nor a lock. Each row's
/// `blob` is an rpm header (see [`rpm_header`]). For the Berkeley DB format see [`rpm_bdb`]; the NDB format
/// (`Packages.db`, SUSE) is not read.
pub fn rpm_sqlite(path: &Path) -> Vec<Package> {
    let read = || -> rusqlite::Result<Vec<Package>> {
        let uri = format!("file:{}?immutable=1", path.display());
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = rusqlite::Connection::open_with_flags(uri, flags)?;
        let mut stmt = conn.prepare("SELECT blob FROM Packages")?;
        let blobs = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(blobs.filter_map(|b| b.ok().and_then(|b| rpm_header(&b))).collect())
    };
    match read() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "rpm database not readable");
            Vec::new()
        }
    }
}

/// Installed packages from rpm's Berkeley DB database (`/var/lib/rpm/Packages`: RHEL and CentOS 7 and 8,
/// Amazon Linux 2), read from the file as it is (see [`crate::bdb`]): each value is an rpm header.
pub fn rpm_bdb(path: &Path) -> Vec<Package> {
    let values = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|file| crate::bdb::hash_values(&file).map_err(|e| e.to_string()));
    match values {
        Ok(values) => values.iter().filter_map(|v| rpm_header(v)).collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "rpm database not readable");
            Vec::new()
        }
    }
}

/// One installed package from an rpm header as rpmdb stores it: `il` and `dl` (big-endian counts of index
/// entries and data bytes), `il` entries of (tag, type, offset, count), then the data. Reads NAME (1000),
/// VERSION (1001), RELEASE (1002), EPOCH (1003) and SOURCERPM (1044). `None` for a malformed header and for
/// the `gpg-pubkey` pseudo-packages. The version is `[epoch:]version-release`, as rpm and Red Hat's
/// advisories write it; packages are matched by their own name (rpm advisories name binary packages).
pub fn rpm_header(blob: &[u8]) -> Option<Package> {
    const STRING: u32 = 6;
    const INT32: u32 = 4;
    let be = |at: usize| -> Option<u32> { Some(u32::from_be_bytes(blob.get(at..at + 4)?.try_into().ok()?)) };
    let il = usize::try_from(be(0)?).ok()?;
    let dl = usize::try_from(be(4)?).ok()?;
    let start = il.checked_mul(16)?.checked_add(8)?;
    let data = blob.get(start..start.checked_add(dl)?)?;
    let entry = |tag: u32| -> Option<(u32, usize)> {
        (0..il).find_map(|i| {
            let at = 8 + i * 16;
            (be(at)? == tag).then(|| Some((be(at + 4)?, usize::try_from(be(at + 8)?).ok()?))).flatten()
        })
    };
    let string = |tag: u32| -> Option<String> {
        let (kind, offset) = entry(tag)?;
        if kind != STRING {
            return None;
        }
        let bytes = data.get(offset..)?;
        let end = bytes.iter().position(|&b| b == 0)?;
        String::from_utf8(bytes[..end].to_vec()).ok()
    };
    let name = string(1000)?;
    if name == "gpg-pubkey" {
        return None;
    }
    let (version, release) = (string(1001)?, string(1002)?);
    let epoch = entry(1003).and_then(|(kind, offset)| {
        (kind == INT32).then(|| Some(u32::from_be_bytes(data.get(offset..offset + 4)?.try_into().ok()?))).flatten()
    });
    let version = match epoch {
        Some(e) if e > 0 => format!("{e}:{version}-{release}"),
        _ => format!("{version}-{release}"),
    };
    // `openssl-3.0.7-24.el9.src.rpm` → `openssl`, kept for display only.
    let source = string(1044)
        .and_then(|s| s.strip_suffix(".src.rpm").map(str::to_string))
        .and_then(|s| s.rsplitn(3, '-').nth(2).map(str::to_string))
        .filter(|s| *s != name);
    Some(Package { manager: "rpm".into(), name, version, source, source_version: None })
}

/// Listening sockets of one `/proc/net/{tcp,udp}[6]` file: TCP in state LISTEN (0A), UDP unconnected (07).
pub fn listening(text: &str, protocol: &str) -> Vec<Port> {
    let want = if protocol == "tcp" { "0A" } else { "07" };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.get(3) != Some(&want) {
                return None;
            }
            let (addr, port) = cols.get(1)?.split_once(':')?;
            Some(Port {
                protocol: protocol.into(),
                address: proc_addr(addr)?.to_string(),
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// A `/proc/net` hex address: IPv4 as one little-endian word, IPv6 as four.
fn proc_addr(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> =
        (0..hex.len() / 8).map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()).collect::<Option<_>>()?;
    match words.as_slice() {
        [w] => Some(IpAddr::from(w.to_le_bytes())),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            Some(IpAddr::from(bytes))
        }
        _ => None,
    }
}

/// The host's own IPv4 addresses: `/32 host LOCAL` entries of `/proc/net/fib_trie`.
pub fn fib_trie_local(text: &str) -> Vec<IpAddr> {
    let mut last = None;
    let mut out = Vec::new();
    for l in text.lines() {
        let t = l.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = t.parse::<IpAddr>() {
            last = Some(ip);
        } else if t.starts_with("/32 host LOCAL") {
            out.extend(last);
        }
    }
    out
}

/// IPv6 addresses from `/proc/net/if_inet6` (32 hex digits first on each line).
pub fn if_inet6(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let hex = l.split_whitespace().next()?;
            let v = u128::from_str_radix(hex, 16).ok()?;
            Some(IpAddr::from(v.to_be_bytes()))
        })
        .collect()
}

/// Sorts addresses into private, link-local and public; loopback and unspecified are left out.
pub fn classify(ips: impl IntoIterator<Item = IpAddr>) -> Addresses {
    let mut a = Addresses::default();
    for ip in ips {
        let (private, link_local) = match ip {
            IpAddr::V4(v4) if v4.is_loopback() || v4.is_unspecified() => continue,
            IpAddr::V6(v6) if v6.is_loopback() || v6.is_unspecified() => continue,
            IpAddr::V4(v4) => {
                let o = v4.octets();
                (v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1])), v4.is_link_local())
            }
            IpAddr::V6(v6) => ((v6.segments()[0] & 0xfe00) == 0xfc00, (v6.segments()[0] & 0xffc0) == 0xfe80),
        };
        let list = if link_local {
            &mut a.link_local
        } else if private {
            &mut a.private
        } else {
            &mut a.public
        };
        list.push(ip.to_string());
    }
    a
}

/// Reports until stopped (or once, with `--once`).
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().context("HTTP client")?;
    let url = format!("{}/api/agent/report", opts.server.trim_end_matches('/'));
    // The digest the server acknowledged, and whether it asked for the whole inventory.
    let mut acknowledged: Option<String> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let host = collect(&opts.root);
        let digest = host.digest();
        let full = acknowledged.as_deref() != Some(digest.as_str());
        let report = Report {
            instance_id: &host.instance_id,
            hostname: &host.hostname,
            os_version: host.os_version.as_deref(),
            os_id: host.os_id.as_deref(),
            os_version_id: host.os_version_id.as_deref(),
            kernel: host.kernel.as_deref(),
            agent_version: env!("CARGO_PKG_VERSION"),
            ip_addresses: &host.addresses,
            tags: &opts.tags,
            inventory_digest: &digest,
            packages: full.then_some(host.packages.as_slice()),
            ports: full.then_some(host.ports.as_slice()),
        };
        match send(&client, &url, &opts.token, &report).await {
            Ok(need) => {
                tracing::info!(full, packages = host.packages.len(), ports = host.ports.len(), "reported");
                acknowledged = if need { None } else { Some(digest) };
                backoff = Duration::from_secs(1);
                if opts.once && !need {
                    return Ok(());
                }
                if !need {
                    tokio::time::sleep(opts.interval).await;
                }
            }
            Err(e) if e.fatal => return Err(anyhow::anyhow!(e.message)),
            Err(e) => {
                tracing::warn!(error = %e.message, retry_in = ?backoff, "report failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(opts.interval.max(Duration::from_secs(1)));
            }
        }
    }
}

struct SendError {
    message: String,
    /// The token was refused: retrying cannot help.
    fatal: bool,
}

async fn send(client: &reqwest::Client, url: &str, token: &str, report: &Report<'_>) -> Result<bool, SendError> {
    let err = |message: String, fatal| SendError { message, fatal };
    let resp = client
        .post(url)
        .header("x-agent-token", token)
        .json(report)
        .send()
        .await
        .map_err(|e| err(format!("sending the report: {e}"), false))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(err(format!("the server refused the agent token: {}", body["message"]), true));
    }
    if !status.is_success() {
        return Err(err(
            format!("the server answered {status}: {}", body["message"]),
            status.is_client_error() && status.as_u16() != 429,
        ));
    }
    Ok(body["data"]["needInventory"].as_bool().unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_listening_sockets_are_decoded() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0\n";
        assert_eq!(
            listening(tcp, "tcp"),
            vec![Port { protocol: "tcp".into(), address: "127.0.0.1".into(), port: 8080 }]
        );
        let tcp6 = "header\n   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0\n";
        assert_eq!(listening(tcp6, "tcp")[0], Port { protocol: "tcp".into(), address: "::1".into(), port: 22 });
    }

    #[test]
    fn addresses_are_classified() {
        let ips =
            ["10.1.2.3", "127.0.0.1", "169.254.1.1", "8.8.8.8", "fe80::1", "fd00::5", "2001:db8::1", "100.64.0.1"]
                .map(|s| s.parse::<IpAddr>().expect("ip"));
        let a = classify(ips);
        assert_eq!(a.private, vec!["10.1.2.3", "fd00::5", "100.64.0.1"]);
        assert_eq!(a.link_local, vec!["169.254.1.1", "fe80::1"]);
        assert_eq!(a.public, vec!["8.8.8.8", "2001:db8::1"]);
    }

    #[test]
    fn fib_trie_and_if_inet6_give_the_hosts_addresses() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.0\n           /24 link UNICAST\n        |-- 10.0.0.7\n           /32 host LOCAL\n";
        assert_eq!(fib_trie_local(trie), vec!["10.0.0.7".parse::<IpAddr>().expect("ip")]);
        let v6 = "fe800000000000000000000000000001 02 40 20 80 eth0\n";
        assert_eq!(if_inet6(v6), vec!["fe80::1".parse::<IpAddr>().expect("ip")]);
    }

    #[test]
    fn package_databases_are_read() {
        let dpkg = "Package: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n";
        let p = dpkg_status(dpkg);
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].name.as_str(), p[1].source.as_deref()), ("libssl3", Some("openssl")));
        let apk = "C:Q1abc=\nP:musl\nV:1.2.4-r2\no:musl\n\nP:busybox-binsh\nV:1.36.1-r5\no:busybox\n";
        let a = apk_installed(apk);
        assert_eq!((a[0].name.as_str(), a[0].version.as_str(), a[0].source.is_none()), ("musl", "1.2.4-r2", true));
        assert_eq!(a[1].source.as_deref(), Some("busybox"));
        assert_eq!(
            os_release("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    /// An rpm header as rpmdb stores it, with the given (tag, type, value) entries.
    pub(crate) fn header(entries: &[(u32, u32, HeaderValue)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, value) in entries {
            let offset = data.len() as u32;
            match value {
                HeaderValue::Str(s) => {
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                HeaderValue::Int(n) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    let offset = data.len() as u32;
                    data.extend_from_slice(&n.to_be_bytes());
                    index.extend_from_slice(
                        &[tag.to_be_bytes(), kind.to_be_bytes(), offset.to_be_bytes(), 1u32.to_be_bytes()].concat(),
                    );
                    continue;
                }
            }
            index.extend_from_slice(
                &[tag.to_be_bytes(), kind.to_be_bytes(), offset.to_be_bytes(), 1u32.to_be_bytes()].concat(),
            );
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    pub(crate) enum HeaderValue {
        Str(&'static str),
        Int(u32),
    }

    #[test]
    fn rpm_headers_are_read() {
        use HeaderValue::{Int, Str};
        let openssl = header(&[
            (1000, 6, Str("openssl-libs")),
            (1001, 6, Str("3.0.7")),
            (1002, 6, Str("24.el9")),
            (1003, 4, Int(1)),
            (1044, 6, Str("openssl-3.0.7-24.el9.src.rpm")),
        ]);
        let p = rpm_header(&openssl).expect("a package");
        assert_eq!(
            (p.manager.as_str(), p.name.as_str(), p.version.as_str()),
            ("rpm", "openssl-libs", "1:3.0.7-24.el9")
        );
        assert_eq!(p.source.as_deref(), Some("openssl"));
        let bash = header(&[(1000, 6, Str("bash")), (1001, 6, Str("5.1.8")), (1002, 6, Str("6.el9"))]);
        assert_eq!(rpm_header(&bash).map(|p| p.version), Some("5.1.8-6.el9".into()), "no epoch");
        let key = header(&[(1000, 6, Str("gpg-pubkey")), (1001, 6, Str("fd431d51")), (1002, 6, Str("4ae0493b"))]);
        assert!(rpm_header(&key).is_none());
        // Truncated or lying headers are skipped, never a panic.
        for n in 0..openssl.len() {
            let _ = rpm_header(&openssl[..n]);
        }
        let mut lying = openssl.clone();
        lying[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(rpm_header(&lying).is_none());

        // An rpmdb.sqlite below a host root is read by `collect`.
        let root = std::env::temp_dir().join(format!("tlink-rpm-{}", std::process::id()));
        let db = root.join("var/lib/rpm/rpmdb.sqlite");
        std::fs::create_dir_all(db.parent().expect("dir")).expect("mkdir");
        let conn = rusqlite::Connection::open(&db).expect("create");
        conn.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
            .expect("table");
        for blob in [&openssl, &bash, &key] {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob]).expect("insert");
        }
        drop(conn);
        let host = collect(&root);
        let names: Vec<&str> = host.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["bash", "openssl-libs"]);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The Berkeley DB `Packages` files under `tests/fixtures/rpm-bdb` were written by Berkeley DB 5.3 itself
    /// (see `generate.py` there), one per byte order; some headers span several overflow pages.
    #[test]
    fn rpm_berkeley_db_is_read() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm-bdb");
        let want = [
            ("bash", "4.4.20-4.el8_6", None),
            ("curl", "7.61.1-30.el8", None),
            ("glibc", "2.28-225.el8", None),
            ("kernel-core", "4.18.0-477.10.1.el8_8", Some("kernel")),
            ("libcurl", "7.61.1-30.el8", Some("curl")),
            ("openssl-libs", "1:1.1.1k-9.el8_7", Some("openssl")),
            ("tzdata", "2023c-1.el8", None),
        ];
        for file in ["Packages", "Packages.be"] {
            let mut packages = rpm_bdb(&fixtures.join(file));
            packages.sort();
            let got: Vec<(&str, &str, Option<&str>)> =
                packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.source.as_deref())).collect();
            assert_eq!(got, want, "{file}: every package but the gpg-pubkey");
        }

        // Below a host root, with no rpmdb.sqlite, `collect` reads it.
        let root = std::env::temp_dir().join(format!("tlink-rpm-bdb-{}", std::process::id()));
        let db = root.join("var/lib/rpm/Packages");
        std::fs::create_dir_all(db.parent().expect("dir")).expect("mkdir");
        std::fs::copy(fixtures.join("Packages"), &db).expect("copy");
        let host = collect(&root);
        assert_eq!(host.packages.len(), want.len());
        assert!(host.packages.iter().all(|p| p.manager == "rpm"));
        // Not a database: nothing, and no panic.
        std::fs::write(&db, b"garbage").expect("write");
        assert!(collect(&root).packages.is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
