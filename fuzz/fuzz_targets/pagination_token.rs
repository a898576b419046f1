//! List parameters from the query string: `limit`, `from`, `until` and the signed `token` cursor. The token is
//! tried as given, and also signed with the server's key so that the payload behind the signature check (a
//! forger cannot reach it, but a key leak or a bug could) is read too. A token the server mints for a page
//! reads back as the position it was minted for.
#![no_main]

extern crate tlink_fuzz;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tlink_server::http::extract::QueryMap;
use tlink_server::http::pagination;

const KEY: &[u8] = b"a cursor key of thirty-two bytes";
const LIST: &str = "assets:0190a000-0000-7000-8000-000000000000";

fn signed(payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(KEY).expect("HMAC takes any key");
    mac.update(payload);
    let mac = mac.finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&mac[..16]))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(4, '\n');
    let (token, limit, from, until) = (fields.next(), fields.next(), fields.next(), fields.next());
    let filters = [("type", Some("IP")), ("tag", None)];
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (name, value) in [("limit", limit), ("from", from), ("until", until)] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            pairs.push((name, value));
        }
    }
    let forged = signed(token.unwrap_or_default().as_bytes());
    for token in [token, Some(forged.as_str())].into_iter().flatten() {
        let mut with_token = pairs.clone();
        with_token.push(("token", token));
        let _ = pagination::parse(&QueryMap::from_pairs(with_token.iter().copied()), KEY, LIST, &filters);
    }
    let Ok(params) = pagination::parse(&QueryMap::from_pairs(pairs.iter().copied()), KEY, LIST, &filters) else {
        return;
    };
    // Row ids are UUIDs; the payload is comma-separated, so an id is only promised to round-trip without commas.
    let ts = i64::from_le_bytes(data.get(..8).and_then(|b| b.try_into().ok()).unwrap_or_default());
    let id = token.unwrap_or_default().replace(',', ";");
    let next = params.token(Some((ts, id.clone()))).expect("a next position gives a token");
    pairs.push(("token", &next));
    let again = pagination::parse(&QueryMap::from_pairs(pairs.iter().copied()), KEY, LIST, &filters)
        .unwrap_or_else(|_| panic!("the server's own token is refused: {next}"));
    assert_eq!(again.page.after, Some((ts, id)));
});
