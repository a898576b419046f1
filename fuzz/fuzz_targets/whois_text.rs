//! WHOIS answers: `key: value` pairs, sections, "not found", referrals (and following them), the fields of a
//! domain, network or AS record, dates and address ranges. The first byte picks the server that answered.
//! A date or a range the tool writes reads back as itself.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

const SERVERS: [&str; 4] = ["whois.arin.net", "whois.ripe.net", "whois.verisign-grs.com", "whois.nic.uk"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let _ = fuzzing::whois_answer(&text, SERVERS[usize::from(pick) % SERVERS.len()]);
    for line in text.lines().take(64) {
        let value = line.split_once(':').map_or(line, |(_, v)| v);
        if let Some(date) = fuzzing::whois_date(value) {
            assert_eq!(fuzzing::whois_date(&date).as_deref(), Some(date.as_str()), "{value:?}");
        }
        if let Some((range, _, size)) = fuzzing::whois_range(value) {
            let again = fuzzing::whois_range(&range).expect("a written range reads back");
            assert_eq!((again.0, again.2), (range, size), "{value:?}");
        }
    }
});
