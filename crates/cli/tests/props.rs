//! Property tests for what the agent reads from the host it reports — os-release, dpkg's status file, apk's
//! installed database, `/proc/net` files, rpm headers and rpm's Berkeley DB `Packages` file — fed arbitrary
//! bytes, text shaped like each file and mutated copies of real ones. A damaged or hostile file on a host
//! must cost that host's inventory at most, never the agent: nothing may panic, loop or allocate beyond the
//! file's own size. The fuzz targets in `fuzz/` check the same for much longer.

use std::path::Path;
use std::sync::LazyLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use tlink::{agent, bdb};

fn mutate(seed: &[u8], edits: Vec<(Index, u8, u8)>) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for (at, op, byte) in edits {
        let i = at.index(bytes.len() + 1);
        match op {
            0 => bytes.insert(i, byte),
            1 if i < bytes.len() => {
                bytes.remove(i);
            }
            _ if i < bytes.len() => bytes[i] = byte,
            _ => bytes.push(byte),
        }
    }
    bytes
}

fn edits(max: usize) -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    vec((any::<Index>(), 0u8..3, any::<u8>()), 0..max)
}

fn fixture(path: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

static TEXT_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    vec![
        fixture("tests/fixtures/hosts/alpine-3.18/etc/os-release"),
        fixture("tests/fixtures/hosts/debian-12/var/lib/dpkg/status"),
        fixture("tests/fixtures/hosts/alpine-3.18/lib/apk/db/installed"),
        b"  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0\n   2: 00000000:0035 00000000:0000 07 0\n".to_vec(),
        b"Main:\n  +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.7\n           /32 host LOCAL\n".to_vec(),
        b"fe800000000000000000000000000001 02 40 20 80 eth0\n".to_vec(),
    ]
});

static BDB_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    vec![
        fixture("crates/cli/tests/fixtures/rpm-bdb/Packages"),
        fixture("crates/cli/tests/fixtures/rpm-bdb/Packages.be"),
    ]
});

/// dpkg and apk paragraphs with the fields the readers look for, and os-release lines.
fn inventory_text() -> impl Strategy<Value = String> {
    let key = select(
        &[
            "Package:",
            "Status:",
            "Version:",
            "Source:",
            "P:",
            "V:",
            "o:",
            "ID=",
            "VERSION_ID=",
            "PRETTY_NAME=",
            "NAME=",
        ][..],
    );
    vec((key, "[ a-z0-9.:+~()\"'-]{0,16}", select(&["\n", "\n\n", " installed\n"][..])), 0..16)
        .prop_map(|lines| lines.into_iter().map(|(k, v, end)| format!("{k}{v}{end}")).collect())
}

/// `/proc/net` lines: hex addresses and ports, states, and fib_trie's tree drawing.
fn proc_text() -> impl Strategy<Value = String> {
    vec(
        ("[ |+-]{0,4}", "[0-9A-Fa-f]{0,33}", "[: ./]{0,2}", "[0-9A-F]{0,5}", " (0A|07|01|host LOCAL|/32 host LOCAL)?"),
        0..12,
    )
    .prop_map(|lines| {
        let body: String = lines.into_iter().map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e} 0 0\n")).collect();
        format!("header\n{body}")
    })
}

fn check_text(text: &str) {
    let _ = agent::os_release(text);
    let _ = (agent::os_release_field(text, "ID"), agent::os_release_field(text, "VERSION_ID"));
    let _ = (agent::dpkg_status(text), agent::apk_installed(text));
    let _ = (agent::listening(text, "tcp"), agent::listening(text, "udp"));
    let mut ips = agent::fib_trie_local(text);
    ips.extend(agent::if_inet6(text));
    let _ = agent::classify(ips);
}

/// An rpm header with the given string tags (and an INT32 epoch), as rpmdb stores one.
fn rpm_header(strings: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
    let (mut index, mut data) = (Vec::new(), Vec::new());
    for (tag, value) in strings {
        let offset = u32::try_from(data.len()).expect("small header");
        index.extend([tag.to_be_bytes(), 6u32.to_be_bytes(), offset.to_be_bytes(), 1u32.to_be_bytes()].concat());
        data.extend_from_slice(value.as_bytes());
        data.push(0);
    }
    if let Some(epoch) = epoch {
        while data.len() % 4 != 0 {
            data.push(0);
        }
        let offset = u32::try_from(data.len()).expect("small header");
        index.extend([1003u32.to_be_bytes(), 4u32.to_be_bytes(), offset.to_be_bytes(), 1u32.to_be_bytes()].concat());
        data.extend_from_slice(&epoch.to_be_bytes());
    }
    let count = u32::try_from(index.len() / 16).expect("few entries");
    let size = u32::try_from(data.len()).expect("small header");
    [&count.to_be_bytes()[..], &size.to_be_bytes(), &index, &data].concat()
}

fn rpm_headers() -> impl Strategy<Value = Vec<u8>> {
    ("[a-z0-9.+_-]{0,12}", "[0-9a-z.~^_]{0,8}", "[0-9a-z._]{0,8}", "[a-z0-9.-]{0,24}", any::<Option<u32>>(), edits(6))
        .prop_map(|(name, version, release, source, epoch, edits)| {
            let header = rpm_header(
                &[(1000, &name), (1001, &version), (1002, &release), (1044, &format!("{source}.src.rpm"))],
                epoch,
            );
            mutate(&header, edits)
        })
}

proptest! {
    #[test]
    fn inventory_texts_never_panic(text in prop_oneof![
        vec(any::<u8>(), 0..1024).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        inventory_text(),
        proc_text(),
        (select(TEXT_SEEDS.clone()), edits(8)).prop_map(|(seed, e)| String::from_utf8_lossy(&mutate(&seed, e)).into_owned()),
    ]) {
        check_text(&text);
    }

    #[test]
    fn rpm_headers_never_panic(blob in prop_oneof![vec(any::<u8>(), 0..512), rpm_headers()]) {
        if let Some(package) = agent::rpm_header(&blob) {
            prop_assert_eq!(package.manager.as_str(), "rpm");
            prop_assert!(package.name.len() < blob.len());
        }
    }

    #[test]
    fn berkeley_db_files_never_panic(
        file in prop_oneof![
            1 => vec(any::<u8>(), 0..4096),
            4 => (select(BDB_SEEDS.clone()), edits(16)).prop_map(|(seed, e)| mutate(&seed, e)),
            // Page headers and item offsets changed: the fields the reader follows.
            4 => (select(BDB_SEEDS.clone()), vec((0usize..14, 0usize..40, any::<u8>()), 1..8)).prop_map(|(seed, e)| {
                let mut file = seed;
                for (page, at, byte) in e {
                    if let Some(b) = file.get_mut(page * 4096 + at) {
                        *b = byte;
                    }
                }
                file
            }),
            // Cut anywhere: a file copied while rpm was writing it.
            1 => (select(BDB_SEEDS.clone()), any::<Index>()).prop_map(|(seed, at)| seed[..at.index(seed.len())].to_vec()),
        ],
    ) {
        if let Ok(values) = bdb::hash_values(&file) {
            let total: usize = values.iter().map(Vec::len).sum();
            prop_assert!(total <= file.len(), "{} bytes of values from a file of {}", total, file.len());
            for value in &values {
                let _ = agent::rpm_header(value);
            }
        }
    }
}
