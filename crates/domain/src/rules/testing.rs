//! Helpers shared by the tests of the rule language: compiling conditions,
//! a sample tool result, and the generators of the property tests.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{CompiledCondition, Condition, Operator};

/// Compiles a condition; a `null` value means "no value".
pub(super) fn compile(field: &str, operator: Operator, value: Value) -> CompiledCondition {
    let value = if value.is_null() { None } else { Some(value) };
    Condition { tool: "t".to_owned(), field: field.to_owned(), operator, value }
        .compile()
        .unwrap_or_else(|e| panic!("{field} {operator}: {e}"))
}

pub(super) fn compile_err(field: &str, operator: Operator, value: Option<Value>) -> String {
    Condition { tool: "t".to_owned(), field: field.to_owned(), operator, value }
        .compile()
        .expect_err("should be rejected")
        .to_string()
}

pub(super) fn sample() -> Value {
    json!({
        "abuseipdb": { "abuseConfidenceScore": 92, "countryCode": "NL", "isWhitelisted": false },
        "vt": { "malicious": "7", "harmless": " 60", "odd": "NaN", "big": "inf", "sci": "1e3", "flag": true },
        "registrar": "Cloudflare, Inc.",
        "tags": ["Scanner", "tor-exit", 443, true],
        "ports": [
            { "port": 22, "service": "ssh" },
            { "port": 443, "service": "https" },
            { "port": 8443, "service": "https-alt" }
        ],
        "records": { "A": [ { "ttl": 300 }, { "ttl": 60 } ], "MX": [] },
        "matrix": [[1, 2], [3, 4, 5]],
        "certificates": [ { "daysToExpiry": 12 } ],
        "empty": { "s": "", "a": [], "o": {}, "z": 0, "zf": 0.0, "n": null, "f": false, "zero": "0" },
        "x:y@z": 1
    })
}

/// Few distinct scalars, so that rule values and document values often
/// meet (equal, numerically equal, equal but for case, or `0` and `-0`).
pub(super) fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1i64..3).prop_map(|n| json!(n)),
        prop_oneof![Just(-0.0), Just(1.0), Just(2.5)].prop_map(|f: f64| json!(f)),
        prop_oneof![Just("a"), Just("A"), Just("ab"), Just("2"), Just("")].prop_map(|s| json!(s)),
    ]
}

pub(super) fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("c")], inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A result: an object whose keys paths start with.
pub(super) fn arb_doc() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("c")], arb_json(), 1..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

pub(super) fn arb_path() -> impl Strategy<Value = String> {
    let key = prop_oneof![Just("a"), Just("b"), Just("c")];
    let suffix = prop_oneof![4 => Just(""), 1 => Just("[0]"), 1 => Just("[1]"), 1 => Just("[-1]"), 3 => Just("[*]"), 1 => Just("[*][0]")];
    prop::collection::vec((key, suffix), 1..3)
        .prop_map(|segments| segments.iter().map(|(k, s)| format!("{k}{s}")).collect::<Vec<_>>().join("."))
}

/// Conditions that always compile: the value suits the operator.
pub(super) fn arb_condition() -> impl Strategy<Value = Condition> {
    let op = prop::sample::select(Operator::ALL);
    (op, arb_path(), arb_json(), arb_leaf(), -1i64..3).prop_map(|(operator, field, any, leaf, n)| {
        let value = match operator {
            Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => Some(json!(n)),
            Operator::Eq | Operator::Neq => Some(any).filter(|v| !v.is_null()).or(Some(json!(n))),
            Operator::Contains => Some(match leaf {
                Value::Null | Value::Array(_) | Value::Object(_) => json!(n),
                scalar => scalar,
            }),
            Operator::Exists | Operator::Changed => None,
        };
        Condition { tool: String::new(), field, operator, value }
    })
}
