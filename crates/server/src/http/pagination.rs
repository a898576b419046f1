//! List parameters shared by every list endpoint: `limit`, the opaque `token` cursor, and `from`/`until`.
//!
//! A token carries the keyset position (`createdAt`, `id`) of the last row served and a fingerprint of the
//! list it belongs to (resource, scope and every filter), signed with HMAC-SHA256. A token that was
//! altered, or is replayed with different filters, is rejected with 400 instead of silently returning a
//! wrong page. Keyset paging makes page 1,000 cost what page 1 costs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tlink_domain::{from_bound, to_millis, until_bound};
use tlink_store::PageQuery;

use crate::http::error::ApiError;
use crate::http::extract::QueryMap;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// The parsed list parameters and what is needed to mint the next token.
pub struct ListParams {
    pub page: PageQuery,
    fingerprint: [u8; 8],
    key: Vec<u8>,
}

/// Parses `limit`, `from`, `until` and `token` for a list named `list` (resource and scope, e.g.
/// `assets:<orgId>`) with the given extra filters (name, raw value), which the token is bound to.
pub fn parse(
    q: &QueryMap,
    cursor_key: &[u8],
    list: &str,
    filters: &[(&str, Option<&str>)],
) -> Result<ListParams, ApiError> {
    parse_with(q, cursor_key, list, filters, DEFAULT_LIMIT)
}

/// [`parse`] for Threat Stack's lists, whose pages hold 100 unless `limit` asks for fewer.
pub fn parse_threat_stack(
    q: &QueryMap,
    cursor_key: &[u8],
    list: &str,
    filters: &[(&str, Option<&str>)],
) -> Result<ListParams, ApiError> {
    parse_with(q, cursor_key, list, filters, MAX_LIMIT)
}

fn parse_with(
    q: &QueryMap,
    cursor_key: &[u8],
    list: &str,
    filters: &[(&str, Option<&str>)],
    default_limit: u32,
) -> Result<ListParams, ApiError> {
    let mut errors = Vec::new();
    let limit = match q.get("limit").map(str::parse::<u32>) {
        None => default_limit,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            errors.push(crate::http::error::FieldError::new(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            ));
            default_limit
        }
    };
    let mut bound = |name: &str, f: fn(&str) -> Result<chrono::DateTime<chrono::Utc>, tlink_domain::TimeError>| match q
        .get(name)
        .map(f)
    {
        None => None,
        Some(Ok(t)) => Some(to_millis(t)),
        Some(Err(e)) => {
            errors.push(crate::http::error::FieldError::new(name, e.to_string()));
            None
        }
    };
    let from = bound("from", from_bound);
    let until = bound("until", until_bound);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if let (Some(f), Some(u)) = (from, until)
        && f >= u
    {
        return Err(ApiError::field("until", "must be later than from"));
    }

    let mut h = Sha256::new();
    for (k, v) in
        [("list", Some(list)), ("limit", Some(&*limit.to_string())), ("from", q.get("from")), ("until", q.get("until"))]
            .into_iter()
            .chain(filters.iter().copied())
    {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.unwrap_or("\u{1}").as_bytes());
        h.update([0]);
    }
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&h.finalize()[..8]);

    let after = q.get("token").map(|t| decode(t, cursor_key, &fingerprint)).transpose()?;
    Ok(ListParams { page: PageQuery { limit, after, from, until }, fingerprint, key: cursor_key.to_vec() })
}

impl ListParams {
    /// The token for the page after one that ended at `next`.
    pub fn token(&self, next: Option<(i64, String)>) -> Option<String> {
        next.map(|(ts, id)| {
            let payload = format!("{ts},{id},{}", hex::encode(self.fingerprint));
            let mac = mac(&self.key, payload.as_bytes());
            format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&mac[..16]))
        })
    }
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn decode(token: &str, key: &[u8], fingerprint: &[u8; 8]) -> Result<(i64, String), ApiError> {
    let invalid = || ApiError::field("token", "invalid or tampered pagination token");
    let (p, m) = token.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| invalid())?;
    let given = URL_SAFE_NO_PAD.decode(m).map_err(|_| invalid())?;
    let expected = mac(key, &payload);
    if given.len() != 16 || !bool::from(expected[..16].ct_eq(&given)) {
        return Err(invalid());
    }
    let payload = String::from_utf8(payload).map_err(|_| invalid())?;
    let mut parts = payload.splitn(3, ',');
    let ts = parts.next().and_then(|s| s.parse::<i64>().ok()).ok_or_else(invalid)?;
    let id = parts.next().ok_or_else(invalid)?.to_string();
    let fp = parts.next().ok_or_else(invalid)?;
    if fp != hex::encode(fingerprint) {
        return Err(ApiError::field(
            "token",
            "this token belongs to a different query; repeat the same filters and limit",
        ));
    }
    Ok((ts, id))
}

/// The parameters every list takes (documentation only; parsed by this module).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQueryDoc {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `meta.nextToken` of the previous page; repeat the same filters with it.
    token: Option<String>,
    /// Only items created at or after the start of this period: ISO-8601 at any precision from `yyyy` to
    /// fractions of a second (`2026-01`, `2026-01-31T10`, `2026-01-31T10:00:00.123456`), with an optional
    /// offset (`Z`, `+02:00`); without one, UTC.
    from: Option<String>,
    /// Only items created before the end of this period: `until=2026-01-31` includes that whole day.
    until: Option<String>,
}

/// The parameters every Threat Stack list takes (documentation only; parsed by this module).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ThreatStackListQueryDoc {
    /// The previous page's `token`; repeat the same query with it. A `null` token means the end.
    token: Option<String>,
    /// Only items created at or after the start of this period: ISO-8601 at any precision from `yyyy` to
    /// fractions of a second, with an optional offset (`Z`, `+02:00`); without one, UTC.
    from: Option<String>,
    /// Only items created before the end of this period: `until=2026-01-31` includes that whole day.
    until: Option<String>,
    /// Page size, 1–100 (default 100; a tlink addition).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> QueryMap {
        QueryMap::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn token_round_trips_and_binds_filters() {
        let key = b"k".repeat(32);
        let p = parse(&q(&[]), &key, "assets:o", &[("type", Some("IP"))]).expect("parses");
        let t = p.token(Some((42, "id-1".into()))).expect("token");
        let again = parse(&q(&[("token", &t)]), &key, "assets:o", &[("type", Some("IP"))]).expect("same query");
        assert_eq!(again.page.after, Some((42, "id-1".into())));
        let other = parse(&q(&[("token", &t)]), &key, "assets:o", &[("type", Some("DOMAIN"))]);
        assert!(other.is_err(), "token reused with another filter");
        let other_org = parse(&q(&[("token", &t)]), &key, "assets:p", &[("type", Some("IP"))]);
        assert!(other_org.is_err(), "token reused on another list");
    }

    #[test]
    fn tampered_tokens_are_rejected() {
        let key = b"k".repeat(32);
        let p = parse(&q(&[]), &key, "l", &[]).expect("parses");
        let t = p.token(Some((42, "id".into()))).expect("token");
        let (payload, mac) = t.split_once('.').expect("two parts");
        let forged_payload = URL_SAFE_NO_PAD.encode(format!("41,id,{}", hex::encode(p.fingerprint)));
        for bad in [
            format!("{forged_payload}.{mac}"),
            format!("{payload}.AAAA"),
            "garbage".into(),
            format!("{payload}x.{mac}"),
        ] {
            assert!(parse(&q(&[("token", &bad)]), &key, "l", &[]).is_err(), "{bad}");
        }
        assert!(parse(&q(&[("token", &t)]), &b"x".repeat(32), "l", &[]).is_err(), "other server key");
    }

    #[test]
    fn limits_and_bounds_are_checked() {
        let key = b"k".repeat(32);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(parse(&q(&[("limit", bad)]), &key, "l", &[]).is_err(), "{bad}");
        }
        assert_eq!(parse(&q(&[("limit", "100")]), &key, "l", &[]).expect("max").page.limit, 100);
        assert_eq!(parse(&q(&[]), &key, "l", &[]).expect("default").page.limit, DEFAULT_LIMIT);
        let p = parse(&q(&[("from", "2026-01-31"), ("until", "2026-01-31")]), &key, "l", &[]).expect("one day");
        assert_eq!(p.page.until.expect("until") - p.page.from.expect("from"), 86_400_000);
        assert!(parse(&q(&[("from", "2026-02-01"), ("until", "2026-01-31")]), &key, "l", &[]).is_err());
        assert!(parse(&q(&[("from", "yesterday")]), &key, "l", &[]).is_err());
    }
}

/// Tokens arrive from clients: arbitrary text must be refused, never panic, and the signed payload behind the
/// MAC (which only the server can produce, so a forger never reaches it) is read as carefully as if it could
/// be forged. The fuzz target `pagination_token` (`fuzz/`) checks the same for longer.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    const KEY: &[u8] = b"a cursor key of thirty-two bytes";

    fn q(pairs: &[(&str, &str)]) -> QueryMap {
        QueryMap::from_pairs(pairs.iter().copied())
    }

    /// A token whose MAC is right for any payload.
    fn signed(payload: &[u8]) -> String {
        let tag = mac(KEY, payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&tag[..16]))
    }

    proptest! {
        #[test]
        fn any_token_is_an_answer_not_a_panic(
            token in prop_oneof![any::<String>(), "[A-Za-z0-9_.-]{0,40}"],
            payload in prop::collection::vec(any::<u8>(), 0..128),
            text_payload in "-?[0-9]{0,20},[a-z0-9,-]{0,12}(,[0-9a-f]{0,18})?",
        ) {
            let _ = parse(&q(&[("token", &token)]), KEY, "l", &[]);
            let _ = parse(&q(&[("token", &signed(&payload))]), KEY, "l", &[]);
            let _ = parse(&q(&[("token", &signed(text_payload.as_bytes()))]), KEY, "l", &[]);
        }

        #[test]
        fn minted_tokens_read_back(ts in any::<i64>(), id in "[^,]{0,40}", limit in 1u32..=100) {
            let limit = limit.to_string();
            let filters = [("type", Some("IP"))];
            let first = parse(&q(&[("limit", &limit)]), KEY, "assets:o", &filters).expect("no token");
            let token = first.token(Some((ts, id.clone()))).expect("a token");
            let next = parse(&q(&[("limit", &limit), ("token", &token)]), KEY, "assets:o", &filters);
            prop_assert_eq!(next.map(|p| p.page.after).ok(), Some(Some((ts, id))));
        }

        #[test]
        fn list_bounds_never_panic(from in any::<String>(), until in "[0-9]{4}(-[0-9]{2}){0,2}", limit in any::<String>()) {
            let _ = parse(&q(&[("from", &from), ("until", &until), ("limit", &limit)]), KEY, "l", &[]);
        }
    }
}
