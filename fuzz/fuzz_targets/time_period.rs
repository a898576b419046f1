//! `from` / `until`: partial ISO-8601 times. A period is never empty, and the instant it starts at, written
//! the way the API writes instants, names the millisecond starting there.
#![no_main]

extern crate tlink_fuzz;

use chrono::Datelike;
use libfuzzer_sys::fuzz_target;
use tlink_domain::{format_millis, from_bound, from_millis, parse_period, to_millis, until_bound};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(period) = parse_period(text) else {
        assert!(from_bound(text).is_err() && until_bound(text).is_err());
        return;
    };
    assert!(period.start < period.end, "{text:?}: {period:?}");
    assert_eq!(from_bound(text), Ok(period.start));
    assert_eq!(until_bound(text), Ok(period.end));
    let ms = to_millis(period.start);
    assert_eq!(from_millis(ms), period.start, "periods start on whole milliseconds");
    if (0..=9999).contains(&period.start.year()) {
        let written = format_millis(ms);
        let again = parse_period(&written).expect("an instant the API writes is a valid bound");
        assert_eq!((to_millis(again.start), to_millis(again.end)), (ms, ms + 1), "{written}");
    }
});
