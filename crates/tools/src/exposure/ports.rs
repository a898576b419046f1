//! Port lists: the syntax of the `ports` option and `tools.exposure.ports`, the `top100` list, and the
//! service conventionally found on a well-known port.
//!
//! Syntax: comma-separated entries, each one of
//! - a port, `22`;
//! - an inclusive range, `8000-8100`;
//! - `top100`: [`TOP100`], the 100 TCP ports most often found open (the frequency ranking published with nmap);
//! - `all`: every port from 1 to 65535.
//!
//! Entries may be mixed (`top100,6379,27017`); spaces around entries are ignored, keywords are
//! case-insensitive, duplicates are removed and the result is in ascending order. Port 0 cannot be scanned.

use crate::ToolError;

/// The 100 TCP ports most often found open on the Internet, by the frequency ranking published with nmap
/// (`nmap --top-ports 100`), in ascending order. Databases such as Redis (6379) or MongoDB (27017) are
/// not among them: name them explicitly (`top100,6379,27017,9200`) when they matter.
pub const TOP100: [u16; 100] = [
    7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199, 389,
    427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027,
    1028, 1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899,
    5000, 5009, 5051, 5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070, 8000, 8008, 8009,
    8080, 8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157,
];

/// Parses a port list (see the module documentation) into sorted, distinct ports.
///
/// # Errors
/// [`ToolError::InvalidInput`] quoting the list and naming the entry that is wrong and why.
pub fn parse_port_spec(spec: &str) -> Result<Vec<u16>, ToolError> {
    let bad = |part: &str, why: &str| ToolError::InvalidInput(format!("invalid port list `{spec}`: `{part}` {why}"));
    if spec.trim().is_empty() {
        return Err(ToolError::InvalidInput(
            "invalid port list: it is empty (use ports such as `22,80`, ranges such as `8000-8100`, `top100` or `all`)"
                .to_string(),
        ));
    }
    // One bit per port: cheap deduplication even for `all`.
    let mut set = vec![0u64; 1024];
    let mut mark = |p: u16| set[usize::from(p) >> 6] |= 1u64 << (p & 63);
    for (index, raw) in spec.split(',').enumerate() {
        let part = raw.trim();
        if part.is_empty() {
            return Err(ToolError::InvalidInput(format!("invalid port list `{spec}`: entry {} is empty", index + 1)));
        }
        if part.eq_ignore_ascii_case("all") {
            (1..=u16::MAX).for_each(&mut mark);
        } else if part.eq_ignore_ascii_case("top100") {
            TOP100.iter().copied().for_each(&mut mark);
        } else if let Some((lo, hi)) = part.split_once('-') {
            let lo = port_number(lo.trim()).map_err(|why| bad(part, &format!("starts with {why}")))?;
            let hi = port_number(hi.trim()).map_err(|why| bad(part, &format!("ends with {why}")))?;
            if lo > hi {
                return Err(bad(part, "is a descending range (write the lower port first)"));
            }
            (lo..=hi).for_each(&mut mark);
        } else if part.bytes().all(|b| b.is_ascii_digit()) {
            let port = port_number(part).map_err(|why| bad(part, &format!("is {why}")))?;
            mark(port);
        } else {
            return Err(bad(part, "is not a port number, a range such as `8000-8100`, `top100` or `all`"));
        }
    }
    let mut ports = Vec::new();
    for (word_index, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let bit = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // word_index < 1024 and bit < 64, so the port fits in 16 bits.
            ports.push(u16::try_from(word_index * 64 + bit).unwrap_or(u16::MAX));
        }
    }
    Ok(ports)
}

/// A port number from 1 to 65535, or why not (completing "… is …").
fn port_number(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("an empty port".to_string());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}`, which is not a port number"));
    }
    match s.parse::<u32>() {
        Ok(0) => Err("port 0, which cannot be scanned (ports are 1-65535)".to_string()),
        Ok(n) if n <= 65_535 => Ok(u16::try_from(n).unwrap_or(u16::MAX)),
        _ => Err(format!("port {s}, above 65535")),
    }
}

/// The service conventionally found on `port` (IANA assignments and common practice), used when the
/// service does not identify itself.
pub fn service_for_port(port: u16) -> Option<&'static str> {
    Some(match port {
        7 => "echo",
        9 => "discard",
        13 => "daytime",
        21 | 2121 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 | 26 => "smtp",
        37 => "time",
        53 => "dns",
        79 => "finger",
        80 | 81 | 591 | 3000 | 5000 | 8000 | 8008 | 8080 | 8081 | 8888 | 9000 | 9090 => "http",
        88 => "kerberos",
        106 => "pop3pw",
        110 => "pop3",
        111 => "rpcbind",
        113 => "ident",
        119 => "nntp",
        135 => "msrpc",
        139 => "netbios-ssn",
        143 => "imap",
        179 => "bgp",
        389 => "ldap",
        443 | 444 | 8443 => "https",
        445 => "smb",
        465 => "smtps",
        513 => "rlogin",
        514 => "rsh",
        515 => "lpd",
        548 => "afp",
        554 => "rtsp",
        587 => "submission",
        631 => "ipp",
        636 => "ldaps",
        873 => "rsync",
        990 => "ftps",
        993 => "imaps",
        995 => "pop3s",
        1080 => "socks",
        1433 => "mssql",
        1521 => "oracle",
        1723 => "pptp",
        1883 => "mqtt",
        2049 => "nfs",
        2375 => "docker",
        2376 => "docker-tls",
        3128 => "http-proxy",
        4222 => "nats",
        4369 => "epmd",
        3306 => "mysql",
        3389 => "rdp",
        5060 => "sip",
        5432 => "postgresql",
        5672 => "amqp",
        5800 | 5900..=5903 => "vnc",
        5984 => "couchdb",
        5985 | 5986 => "winrm",
        6000 | 6001 => "x11",
        6379 => "redis",
        8009 => "ajp13",
        9042 => "cassandra",
        9100 => "jetdirect",
        9200 | 9300 => "elasticsearch",
        10000 => "webmin",
        11211 => "memcached",
        27017 | 27018 => "mongodb",
        _ => return None,
    })
}

/// Whether the service on `port` normally waits for the client to speak first, so that waiting the whole
/// banner timeout for a greeting would be wasted.
pub(crate) fn client_speaks_first(port: u16) -> bool {
    matches!(
        service_for_port(port),
        Some("http" | "https" | "http-proxy" | "redis" | "memcached" | "elasticsearch" | "couchdb" | "docker")
    )
}
