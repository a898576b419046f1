//! Asset values of every type (`parse(AssetType, &str)`). The first byte picks the type. A value's canonical
//! spelling is a fixed point: parsing it again gives the same value.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_domain::{AssetType, AssetValue};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let kind = AssetType::ALL[usize::from(pick) % AssetType::ALL.len()];
    let Ok(value) = AssetValue::parse(kind, text) else { return };
    assert_eq!(value.kind(), kind);
    assert_eq!(value.hash_kind().is_some(), kind == AssetType::Hash);
    let again = AssetValue::parse(kind, value.value());
    assert_eq!(again.as_ref(), Ok(&value), "{kind}: {text:?} → {:?}", value.value());
});
