//! The agent's text inventories: os-release, dpkg's status file, apk's installed database, `/proc/net/{tcp,udp}`,
//! `/proc/net/fib_trie` and `/proc/net/if_inet6`, all read from the same bytes.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink::agent;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = agent::os_release(&text);
    let _ = (agent::os_release_field(&text, "ID"), agent::os_release_field(&text, "VERSION_ID"));
    let _ = (agent::dpkg_status(&text), agent::apk_installed(&text));
    let _ = agent::listening(&text, "tcp");
    let _ = agent::listening(&text, "udp");
    let mut ips = agent::fib_trie_local(&text);
    ips.extend(agent::if_inet6(&text));
    let _ = agent::classify(ips);
});
