//! The rate limits in the OpenAPI document: the headers every response carries and the 429 every operation
//! may answer, written once here from the same rules [`super::counted`] applies, instead of on each of the
//! handlers' annotations (where one forgotten operation would go unnoticed).

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object, Ref, Type};
use utoipa::openapi::{Content, OpenApi, RefOr};

use super::is_threat_stack_path;

fn header(kind: Type, description: &str) -> Header {
    HeaderBuilder::new().schema(Some(Object::with_type(kind))).description(Some(description)).build()
}

/// The headers of every response of a family, by name.
fn family_headers(threat_stack: bool) -> Vec<(&'static str, Header)> {
    let bucket = if threat_stack {
        "the organization's bucket (the client IP's when the request was not authenticated or the IP was refused)"
    } else {
        "the credential's bucket (the client IP's when the request was not authenticated or the IP was \
         refused; the organization's when it refused)"
    };
    let mut h = vec![
        ("X-RateLimit-Limit", header(Type::Integer, &format!("Requests per minute of {bucket}."))),
        ("X-RateLimit-Remaining", header(Type::Integer, "Requests the bucket allows now.")),
        ("X-RateLimit-Reset", header(Type::Integer, "Unix epoch seconds when the bucket is full again.")),
        ("RateLimit-Policy", header(Type::String, "IETF draft: `\"<bucket>\";q=<limit>;w=60`.")),
        (
            "RateLimit",
            header(Type::String, "IETF draft: `\"<bucket>\";r=<remaining>;t=<seconds until the bucket is full>`."),
        ),
    ];
    if threat_stack {
        h.extend([
            (
                "x-rate-limit-limit",
                header(Type::Integer, "Threat Stack: requests per minute of the organization (200 by default)."),
            ),
            ("x-rate-limit-remaining", header(Type::Integer, "Threat Stack: requests left in the minute's budget.")),
            (
                "x-rate-limit-reset",
                header(
                    Type::Integer,
                    "Threat Stack: milliseconds to wait before the next request when limited, else 0.",
                ),
            ),
        ]);
    } else {
        h.push((
            "Retry-After",
            header(
                Type::Integer,
                "Seconds before the bucket takes another request: 0 while it has room; on a 429, the wait \
                 (for a monthly tool-run quota, until the month resets).",
            ),
        ));
    }
    h
}

fn too_many(threat_stack: bool) -> Response {
    let (description, schema) = if threat_stack {
        (
            "Too many requests: over the organization's limit (`limits.org_per_minute`, 200 a minute across all \
             its credentials, whatever the TLINK plan) or the client IP's (1,000 a minute, then a 15-minute \
             lock-out). `x-rate-limit-reset` is the milliseconds to wait, `Retry-After` the seconds.",
            "ErrorsBody",
        )
    } else {
        (
            "Too many requests: over the credential's limit (by the organization's plan: FREE 30, PRO 120, \
             BUSINESS 300 a minute, ENTERPRISE custom; 120 outside an organization), the organization's (when \
             `limits.org_per_minute_api` is set), the client IP's (1,000 a minute, then a 15-minute lock-out), \
             too many failed logins, or the monthly tool-run quota. `Retry-After` is the seconds to wait.",
            "ErrorBody",
        )
    };
    let mut r = Response::new(description);
    r.content.insert("application/json".into(), RefOr::T(Content::new(Some(Ref::from_schema_name(schema)))));
    r
}

/// Every operation of a path item.
pub(crate) fn operations(item: &mut utoipa::openapi::path::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Adds to every operation of `doc` its family's rate-limit headers on each response, and a 429 (every
/// route is limited, at least by the client IP).
pub fn document(doc: &mut OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        let threat_stack = is_threat_stack_path(path);
        for op in operations(item) {
            let responses = &mut op.responses.responses;
            match responses.get_mut("429") {
                Some(RefOr::T(r)) => r.description = too_many(threat_stack).description,
                Some(RefOr::Ref(_)) => {}
                None => {
                    responses.insert("429".into(), RefOr::T(too_many(threat_stack)));
                }
            }
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                for (name, h) in family_headers(threat_stack) {
                    response.headers.entry(name.to_string()).or_insert(RefOr::T(h));
                }
                if threat_stack && status == "429" {
                    response.headers.entry("Retry-After".into()).or_insert(RefOr::T(header(
                        Type::Integer,
                        "Seconds to wait (the same wait as `x-rate-limit-reset`, rounded up).",
                    )));
                }
            }
        }
    }
}
