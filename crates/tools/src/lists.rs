//! Local list files: IP blocklists (`tools.blocklists`, read by `ip-reputation`) and indicator feeds
//! (`tools.feeds`, read by `threat-feed`).
//!
//! # Formats
//! - **Blocklist**: one IP address or CIDR per line (`192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32`). Text after
//!   `#` or `;` is a comment, blank lines are skipped, only the first whitespace-separated token of a line is read
//!   (so `192.0.2.0/24 ; SBL123` works). Any other line is counted in `invalidLines` and skipped.
//! - **Feed**: one indicator per line (IP, CIDR, domain, URL, e-mail address or hash), same comments; a file whose
//!   name ends in `.csv` is read as CSV with the indicator in the first column (a header row is recognised by its
//!   first cell not being an indicator, and skipped; a double-quoted first cell may contain commas and `""`).
//!   Indicators are normalised like targets (lower case, canonical IP and URL spelling) and defanged
//!   spellings (`hxxp://`, `evil[.]example`) are read as the real thing, so matching is case-insensitive.
//!
//! # Cost
//! A parsed file is cached by path and kind, and re-read only when its modification time or size changes: a
//! run costs one `stat` per file. IP entries are kept per prefix length as sorted network addresses, so a
//! look-up is one binary search per prefix length present, however large or nested the list. Files larger
//! than [`MAX_FILE_BYTES`] are refused (recorded as that list's error).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use ipnet::IpNet;
use tlink_domain::{AssetType, AssetValue};

/// Largest list file read, bytes.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Most matches reported from one file for one target.
pub const MAX_MATCHES_PER_LIST: usize = 20;

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ListKind {
    /// IPs and CIDRs only.
    Blocklist,
    /// Any indicator; CSV when the file name ends in `.csv`.
    Feed,
}

/// A parsed list file.
#[derive(Debug, Default)]
pub(crate) struct ListFile {
    /// Lines that gave an entry.
    pub entries: usize,
    /// Lines that are neither blank, a comment, a CSV header nor a valid entry.
    pub invalid_lines: usize,
    /// The first such line (1-based).
    pub first_invalid_line: Option<u32>,
    /// Whether the file was read as CSV.
    pub csv: bool,
    v4: NetSet<u32>,
    v6: NetSet<u128>,
    /// Normalised indicator → first line it appears on.
    indicators: HashMap<Box<str>, u32>,
}

/// One entry that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The entry in canonical form (`10.0.0.0/8`, `192.0.2.7`, `evil.example`).
    pub entry: String,
    /// Its line in the file (1-based).
    pub line: u32,
}

impl ListFile {
    /// The entries containing `ip` (an IPv4-mapped IPv6 address is looked up as IPv4), at most
    /// [`MAX_MATCHES_PER_LIST`].
    pub fn match_ip(&self, ip: IpAddr) -> Vec<Hit> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.lookup(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.lookup(u128::from(v6)),
        }
    }

    /// The indicator entry equal to `key` (a value normalised by [`key_of`]), if any.
    pub fn match_key(&self, key: &str) -> Option<Hit> {
        self.indicators.get(key).map(|&line| Hit { entry: key.to_string(), line })
    }

    fn parse(text: &[u8], kind: ListKind, csv: bool) -> ListFile {
        let mut list = ListFile { csv, ..ListFile::default() };
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut seen_data_row = false;
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let raw = String::from_utf8_lossy(raw);
            let mut line = raw.as_ref();
            if i == 0 {
                line = line.trim_start_matches('\u{feff}');
            }
            let token = if csv { csv_first_cell(line) } else { plain_token(line, kind) };
            let Some(token) = token else { continue };
            let first_row = !seen_data_row;
            seen_data_row = true;
            let parsed = match kind {
                ListKind::Blocklist => parse_net(token).map(Entry::Net),
                ListKind::Feed => normalise(token).map(|n| match n.net {
                    Some(net) => Entry::Net(net),
                    None => Entry::Indicator(n.key),
                }),
            };
            match parsed {
                Some(Entry::Net(net)) => {
                    list.entries += 1;
                    match net {
                        IpNet::V4(n) => v4.push((u32::from(n.network()), n.prefix_len(), line_no)),
                        IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len(), line_no)),
                    }
                }
                Some(Entry::Indicator(key)) => {
                    list.entries += 1;
                    list.indicators.entry(key.into_boxed_str()).or_insert(line_no);
                }
                // A CSV's first row that is not an indicator is its header.
                None if csv && first_row => {}
                None => {
                    list.invalid_lines += 1;
                    list.first_invalid_line.get_or_insert(line_no);
                }
            }
        }
        list.v4 = NetSet::new(v4);
        list.v6 = NetSet::new(v6);
        list.indicators.shrink_to_fit();
        list
    }
}

enum Entry {
    Net(IpNet),
    Indicator(String),
}

/// The first token of a plain line; `None` for blank and comment lines. In a blocklist `#` and `;` start a
/// comment anywhere; in a feed only at the start of the line or of a token, since URLs contain both.
fn plain_token(line: &str, kind: ListKind) -> Option<&str> {
    let token = match kind {
        ListKind::Blocklist => line.split(['#', ';']).next().unwrap_or_default().split_whitespace().next()?,
        ListKind::Feed => line.split_whitespace().next()?,
    };
    (!token.starts_with('#') && !token.starts_with(';')).then_some(token)
}

/// The first cell of a CSV line (unquoted, trimmed, possibly empty); `None` for blank and `#` comment lines.
fn csv_first_cell(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let cell = match line.strip_prefix('"') {
        // `""` inside a quoted cell is a literal quote; indicators never contain one, so the cell ends at the
        // first quote not followed by another.
        Some(rest) => {
            let bytes = rest.as_bytes();
            let mut end = rest.len();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    end = i;
                    break;
                }
                i += 1;
            }
            &rest[..end]
        }
        None => line.split(',').next().unwrap_or_default(),
    };
    // An empty first cell is a row without an indicator (counted as invalid), not a blank line.
    Some(cell.trim())
}

/// An IP address or CIDR (host bits are cleared: `10.1.2.3/8` is `10.0.0.0/8`).
fn parse_net(token: &str) -> Option<IpNet> {
    if token.contains('/') {
        let net = token.parse::<IpNet>().ok()?.trunc();
        // `::ffff:10.0.0.0/104` is the IPv4 network `10.0.0.0/8`.
        if let IpNet::V6(n) = net
            && let Some(v4) = n.network().to_ipv4_mapped()
            && n.prefix_len() >= 96
        {
            return ipnet::Ipv4Net::new(v4, n.prefix_len() - 96).ok().map(IpNet::V4);
        }
        return Some(net);
    }
    let ip = token.parse::<IpAddr>().ok()?.to_canonical();
    Some(IpNet::from(ip))
}

/// A feed entry, normalised: its look-up key, and its network when it is an IP or CIDR.
struct Normalised {
    key: String,
    net: Option<IpNet>,
}

/// Normalises an indicator (or a target value) the way targets are: canonical IP, URL, e-mail, hash or
/// domain spelling, lower-cased. Defanged spellings are refanged first. `None` when it is none of those.
fn normalise(raw: &str) -> Option<Normalised> {
    let token = refang(raw.trim());
    if let Some(net) = parse_net(&token) {
        return Some(Normalised { key: render_net(net), net: Some(net) });
    }
    let kinds: &[AssetType] = if token.contains("://") {
        &[AssetType::Url]
    } else if token.contains('@') {
        &[AssetType::Email]
    } else if token.bytes().all(|b| b.is_ascii_hexdigit()) {
        &[AssetType::Hash]
    } else {
        &[AssetType::Domain]
    };
    kinds
        .iter()
        .find_map(|&k| AssetValue::parse(k, &token).ok())
        .map(|v| Normalised { key: v.into_value().to_lowercase(), net: None })
}

/// `hxxp://evil[.]example` → `http://evil.example`.
fn refang(s: &str) -> String {
    let mut out = s.replace("[.]", ".").replace("(.)", ".").replace("{.}", ".").replace("[:]", ":");
    for (from, to) in
        [("hxxps://", "https://"), ("hxxp://", "http://"), ("hXXps://", "https://"), ("hXXp://", "http://")]
    {
        if out.len() >= from.len() && out[..from.len()].eq_ignore_ascii_case(from) {
            out.replace_range(..from.len(), to);
            break;
        }
    }
    out
}

/// A network as reported: a single address without prefix, otherwise `network/prefix`.
fn render_net(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() }
}

/// Address bits of one family.
trait Bits: Copy + Ord {
    const MAX_PREFIX: u8;
    fn to_ip(self) -> IpAddr;
    /// The network address of the `prefix`-bit network containing `self`.
    fn mask(self, prefix: u8) -> Self;
}

impl Bits for u32 {
    const MAX_PREFIX: u8 = 32;
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    fn mask(self, prefix: u8) -> u32 {
        self & u32::MAX.checked_shl(u32::from(32 - prefix.min(32))).unwrap_or(0)
    }
}

impl Bits for u128 {
    const MAX_PREFIX: u8 = 128;
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    fn mask(self, prefix: u8) -> u128 {
        self & u128::MAX.checked_shl(u32::from(128 - prefix.min(128))).unwrap_or(0)
    }
}

/// Networks of one family, grouped by prefix length. Networks of the same length are aligned, so they are
/// either equal or disjoint: a look-up masks the address to each length present and binary-searches that
/// length's sorted network addresses (at most 33 searches for IPv4, 129 for IPv6, whatever the list's size
/// or nesting).
#[derive(Debug, Default)]
struct NetSet<T> {
    /// `(prefix length, [(network address, line)] sorted)`, by prefix length, shortest first.
    by_prefix: Vec<(u8, Vec<(T, u32)>)>,
}

impl<T: Bits> NetSet<T> {
    fn new(nets: Vec<(T, u8, u32)>) -> NetSet<T> {
        let mut groups: HashMap<u8, Vec<(T, u32)>> = HashMap::new();
        for (start, prefix, line) in nets {
            groups.entry(prefix).or_default().push((start, line));
        }
        let mut by_prefix: Vec<(u8, Vec<(T, u32)>)> = groups
            .into_iter()
            .map(|(prefix, mut v)| {
                v.sort_unstable();
                v.shrink_to_fit();
                (prefix, v)
            })
            .collect();
        by_prefix.sort_unstable_by_key(|(prefix, _)| *prefix);
        NetSet { by_prefix }
    }

    /// The networks containing `ip`, broadest first (the first line of each, when a network is listed twice).
    fn lookup(&self, ip: T) -> Vec<Hit> {
        let mut hits = Vec::new();
        for (prefix, nets) in &self.by_prefix {
            let key = ip.mask(*prefix);
            let i = nets.partition_point(|(start, _)| *start < key);
            if let Some(&(start, line)) = nets.get(i)
                && start == key
            {
                let entry = if *prefix == T::MAX_PREFIX {
                    start.to_ip().to_string()
                } else {
                    format!("{}/{prefix}", start.to_ip())
                };
                hits.push(Hit { entry, line });
                if hits.len() >= MAX_MATCHES_PER_LIST {
                    break;
                }
            }
        }
        hits
    }
}

/// What identifies a version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

type Slot = Arc<tokio::sync::Mutex<Option<(Stamp, Arc<ListFile>)>>>;

static CACHE: LazyLock<parking_lot::Mutex<HashMap<(PathBuf, ListKind), Slot>>> = LazyLock::new(Default::default);

/// The parsed file at `path`, from the cache unless it changed on disk. The error is a message for the
/// result (it does not contain the path, which is logged instead).
pub(crate) async fn load(path: &Path, kind: ListKind) -> Result<Arc<ListFile>, String> {
    let slot = CACHE.lock().entry((path.to_path_buf(), kind)).or_default().clone();
    // One load per file at a time: concurrent runs wait for the first to parse a changed file.
    let mut cached = slot.lock().await;
    let known = cached.as_ref().map(|(stamp, _)| *stamp);
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_if_changed(&owned, kind, known)).await;
    match read {
        Ok(Ok(None)) => match cached.as_ref() {
            Some((_, list)) => Ok(Arc::clone(list)),
            None => Err("internal error: cache entry vanished".to_string()),
        },
        Ok(Ok(Some((stamp, list)))) => {
            let list = Arc::new(list);
            *cached = Some((stamp, Arc::clone(&list)));
            Ok(list)
        }
        Ok(Err(message)) => {
            *cached = None;
            tracing::warn!(path = %path.display(), error = %message, "list file not usable");
            Err(message)
        }
        Err(e) => {
            *cached = None;
            Err(format!("internal error while reading the file: {e}"))
        }
    }
}

/// Reads and parses `path` unless its stamp is `known`; `Ok(None)` when unchanged.
fn read_if_changed(path: &Path, kind: ListKind, known: Option<Stamp>) -> Result<Option<(Stamp, ListFile)>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read the file's metadata: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    let stamp = Stamp { modified: meta.modified().ok(), len: meta.len() };
    if known == Some(stamp) {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("the file is larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut text = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.by_ref().take(MAX_FILE_BYTES + 1).read_to_end(&mut text).map_err(|e| format!("cannot read the file: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("the file is larger than {MAX_FILE_BYTES} bytes"));
    }
    let csv = kind == ListKind::Feed && is_csv(path);
    Ok(Some((stamp, ListFile::parse(&text, kind, csv))))
}

/// Whether a feed file is read as CSV (its name ends in `.csv`).
pub(crate) fn is_csv(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The normalised look-up key of a target value (what a feed entry must normalise to for a match).
pub(crate) fn key_of(value: &str) -> String {
    normalise(value).map_or_else(|| value.to_lowercase(), |n| n.key)
}

/// Loads every file of `files` (name → path, as configured), in name order; one file's failure is its own.
pub(crate) async fn load_all(
    files: &BTreeMap<String, PathBuf>,
    kind: ListKind,
) -> Vec<(String, Result<Arc<ListFile>, String>)> {
    let mut out = Vec::with_capacity(files.len());
    for (name, path) in files {
        out.push((name.clone(), load(path, kind).await));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test IP")
    }

    #[test]
    fn blocklist_lines_comments_and_invalid_lines() {
        let text = b"\xef\xbb\xbf# header comment\n\n192.0.2.7\n10.1.2.3/8 ; host bits cleared\n2001:db8::/32 # v6\n\
                    not-an-ip\n192.0.2.0/33\r\n::ffff:203.0.113.9\n  198.51.100.0/24\textra\n";
        let list = ListFile::parse(text, ListKind::Blocklist, false);
        assert_eq!(list.entries, 5);
        assert_eq!((list.invalid_lines, list.first_invalid_line), (2, Some(6)));
        assert_eq!(list.match_ip(ip("192.0.2.7")), vec![Hit { entry: "192.0.2.7".into(), line: 3 }]);
        assert_eq!(list.match_ip(ip("10.200.0.1")), vec![Hit { entry: "10.0.0.0/8".into(), line: 4 }]);
        assert_eq!(list.match_ip(ip("2001:db8:ffff::1"))[0].entry, "2001:db8::/32");
        assert_eq!(list.match_ip(ip("203.0.113.9"))[0].entry, "203.0.113.9");
        assert_eq!(list.match_ip(ip("::ffff:10.0.0.1"))[0].entry, "10.0.0.0/8");
        assert_eq!(list.match_ip(ip("198.51.100.255"))[0].line, 9);
        assert!(list.match_ip(ip("192.0.2.8")).is_empty());
        assert!(list.match_ip(ip("2001:db9::1")).is_empty());
    }

    #[test]
    fn nested_and_overlapping_ranges_are_all_reported() {
        let text = b"10.0.0.0/8\n10.1.0.0/16\n10.1.2.0/24\n10.2.0.0/16\n10.1.2.3\n11.0.0.0/8\n";
        let list = ListFile::parse(text, ListKind::Blocklist, false);
        let entries: Vec<String> = list.match_ip(ip("10.1.2.3")).into_iter().map(|h| h.entry).collect();
        assert_eq!(entries, ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3"]);
        let entries: Vec<String> = list.match_ip(ip("10.3.0.1")).into_iter().map(|h| h.entry).collect();
        assert_eq!(entries, ["10.0.0.0/8"]);
        assert!(list.match_ip(ip("9.255.255.255")).is_empty());
        assert!(list.match_ip(ip("12.0.0.0")).is_empty());
        let all = ListFile::parse(b"0.0.0.0/0\n", ListKind::Blocklist, false);
        assert_eq!(all.match_ip(ip("255.255.255.255"))[0].entry, "0.0.0.0/0");
    }

    #[test]
    fn a_large_set_answers_exactly() {
        // 200k /28s (every other one), one /8 covering them all, and a /1 aggregate: a look-up costs one
        // binary search per prefix length, not a walk over every range under the aggregate.
        let mut nets: Vec<(u32, u8, u32)> = (0..200_000u32).map(|i| (0x0b00_0000 + i * 32, 28, i + 3)).collect();
        nets.push((0x0b00_0000, 8, 1));
        nets.push((0, 1, 2));
        let set = NetSet::new(nets);
        let first: Vec<String> = set.lookup(0x0b00_0005).into_iter().map(|h| h.entry).collect();
        assert_eq!(first, ["0.0.0.0/1", "11.0.0.0/8", "11.0.0.0/28"]);
        let inside = set.lookup(0x0b00_0000 + 123_456 * 32 + 15);
        assert_eq!(inside.len(), 3);
        assert_eq!(inside[2].line, 123_459);
        // In a gap between /28s: only the aggregates.
        assert_eq!(set.lookup(0x0b00_0000 + 123_456 * 32 + 16).len(), 2);
        assert_eq!(set.lookup(0x0a00_0000).len(), 1);
        assert!(set.lookup(0x8000_0000).is_empty());
    }

    #[test]
    fn masks() {
        assert_eq!(0xc000_0207u32.mask(24), 0xc000_0200);
        assert_eq!(0xffff_ffffu32.mask(0), 0);
        assert_eq!(0xffff_ffffu32.mask(32), 0xffff_ffff);
        assert_eq!(u128::MAX.mask(0), 0);
        assert_eq!(u128::MAX.mask(128), u128::MAX);
        assert_eq!(u128::MAX.mask(1), 1u128 << 127);
    }

    #[test]
    fn feed_entries_are_normalised_and_refanged() {
        let text = b"# feed\nEVIL.example\nhxxp://Bad[.]example/Path?q=1\n198.51.100.0/24\n\
                    44D88612FEA8A8F36DE82E1278ABB02F\nbob@Phish.EXAMPLE\nnot a thing\n";
        let list = ListFile::parse(text, ListKind::Feed, false);
        assert_eq!((list.entries, list.invalid_lines, list.first_invalid_line), (5, 1, Some(7)));
        assert_eq!(list.match_key("evil.example").map(|h| h.line), Some(2));
        assert_eq!(list.match_key("http://bad.example/path?q=1").map(|h| h.line), Some(3));
        assert_eq!(list.match_key("44d88612fea8a8f36de82e1278abb02f").map(|h| h.line), Some(5));
        assert_eq!(list.match_key("bob@phish.example").map(|h| h.line), Some(6));
        assert_eq!(list.match_ip(ip("198.51.100.9"))[0].entry, "198.51.100.0/24");
        assert!(list.match_key("good.example").is_none());
        // Target values are keyed the same way.
        assert_eq!(key_of("HTTP://Bad.Example/Path?q=1"), "http://bad.example/path?q=1");
        assert_eq!(key_of("Bob@Phish.example"), "bob@phish.example");
        // A URL's `#` and `;` are not comments in a feed; a token starting with `#` is.
        let list = ListFile::parse(
            b"http://x.example/a;b#frag # note
# c
  #c
",
            ListKind::Feed,
            false,
        );
        assert_eq!((list.entries, list.invalid_lines), (1, 0));
        assert!(list.match_key(&key_of("http://x.example/a;b#frag")).is_some());
    }

    #[test]
    fn csv_header_quotes_and_comments() {
        let text = b"indicator,type,description\n\"evil.example\",domain,\"a, quoted\"\n# comment\n\
                    192.0.2.1,ip,x\n,empty first cell\n\"http://q.example/a,b\",url,\n";
        let list = ListFile::parse(text, ListKind::Feed, true);
        assert_eq!(list.entries, 3);
        assert_eq!((list.invalid_lines, list.first_invalid_line), (1, Some(5)));
        assert_eq!(list.match_key("evil.example").map(|h| h.line), Some(2));
        assert_eq!(list.match_key("http://q.example/a,b").map(|h| h.line), Some(6));
        assert_eq!(list.match_ip(ip("192.0.2.1"))[0].line, 4);
        // A CSV without a header: its first row is data.
        let list = ListFile::parse(b"evil.example,1\n", ListKind::Feed, true);
        assert_eq!((list.entries, list.invalid_lines), (1, 0));
    }
}
