//! Alert-rule conditions, evaluated against tool results.
//!
//! An alert rule says "tell me when this field of that tool's result looks
//! like this", for example
//! `{"tool":"ip-reputation","field":"abuseipdb.abuseConfidenceScore","operator":"gte","value":75}`.
//! Rules are checked after every completed scan, against the tool's JSON
//! result, for every organisation that watches the asset. This module exists
//! so that the meaning of a rule is defined once, without I/O, and can be
//! tested exhaustively: the server stores [`Condition`]s as users wrote them,
//! compiles each one with [`Condition::compile`] (which is also where a bad
//! rule is rejected with a message naming the offending part), and checks
//! reports with [`CompiledCondition::evaluate`] or, for all rules of an
//! organisation at once, with a [`RuleIndex`].
//!
//! # Field paths
//!
//! A field path ([`FieldPath`]) names zero or more values inside a result:
//!
//! - Segments are separated by `.`. Each segment is a key of 1 to 128
//!   characters from `A-Z a-z 0-9 _ - : @`, matched exactly (case-sensitive)
//!   against object keys.
//! - A key may be followed by one or more index suffixes: `[N]` selects the
//!   element at 0-based index `N`, `[-1]` the last element (no other negative
//!   index is accepted), and `[*]` every element.
//! - Examples: `abuseipdb.abuseConfidenceScore`, `certificates[0].daysToExpiry`,
//!   `ports[*].port`, `records.A[*].ttl`, `matrix[0][1]`.
//! - A path is at most 512 characters and 32 segments long. Nothing else is
//!   accepted: no surrounding whitespace, no quoting, no empty segments, and
//!   the first segment must be a key.
//! - Resolving a path yields every value it reaches, in document order. A key
//!   applied to anything but an object, an index applied to anything but an
//!   array, and an index past the end reach nothing; in particular a key
//!   applied to an array is absent (there is no implicit flattening: write
//!   `ports[*].port`, not `ports.port`). `[*]` fans out, so a path with
//!   wildcards can reach many values. A path that reaches nothing is
//!   *absent*.
//!
//! # Operators
//!
//! Let V be the values the field resolves to (empty when absent).
//!
//! | operator | value | matches when |
//! | --- | --- | --- |
//! | `gt` `lt` `gte` `lte` | a JSON number | some v in V is numeric and compares true (`>`, `<`, `≥`, `≤`) |
//! | `eq` | any JSON value | some v in V equals the value |
//! | `neq` | any JSON value | V is not empty and no v in V equals the value |
//! | `contains` | a string, number or boolean | some v in V contains the value (see below) |
//! | `exists` | none | some v in V is truthy |
//! | `changed` | none | the previous result exists and its V differs from this one's |
//!
//! - **Numeric** means a JSON number, or a string that parses in full as a
//!   finite decimal number (`"92"`, `"-1.5"`, `"1e3"`; not `" 92"`, `"NaN"`,
//!   `"inf"`), because some providers send numbers as strings. Booleans, null,
//!   arrays and objects never compare.
//! - **Equality** (`eq`, `neq`, `changed`) compares numbers numerically
//!   (`92` equals `92.0`), strings exactly (case-sensitive), booleans and null
//!   by value, and arrays and objects structurally with the same rules inside.
//!   Values of different JSON types are never equal: `eq 443` does not match
//!   the string `"443"` (unlike the ordering operators, which do read numeric
//!   strings); write `eq "443"` for that.
//! - `neq` is the negation of `eq` over the values that are present: an absent
//!   field matches neither `eq` nor `neq`, so a `neq` rule does not fire just
//!   because a provider omitted the field. Use `exists` for that.
//! - `contains` on a string v matches when the value's text (the string
//!   itself, or the number or boolean as written in JSON) occurs in v, ignoring
//!   case (Unicode lower-casing of both sides). On an array v it matches when
//!   some element equals the value, with strings compared ignoring case.
//!   Numbers, booleans, null and objects contain nothing.
//! - **Truthy** (`exists`) means anything but null, `false`, `0`, `""`, `[]`
//!   and `{}`. The string `"0"` and the string `"false"` are truthy.
//! - `changed` reads the result of the previous completed report of the same
//!   tool and asset. With no previous report it never matches. Otherwise it
//!   compares the two lists of resolved values element by element with the
//!   equality above: a field present in one and absent in the other has
//!   changed; a field absent in both has not.
//! - A JSON `null` rule value counts as no value: `exists` and `changed`
//!   accept it, and the others reject it.
//! - For every operator, an absent field does not match, except that
//!   `changed` matches when the field appeared or disappeared.
//!
//! # Matches
//!
//! A [`Match`] carries the `actual` value and a message for people:
//!
//! - `abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)`
//! - `ports[*].port = 22 (actual: [22])`
//! - `registrar contains "cloudflare" (actual: "Cloudflare, Inc.")`
//! - `ssl.selfSigned exists (actual: true)`
//! - `nameServers changed (was: ["a.test"], now: ["b.test"])`
//!
//! Paths are shown in their canonical form, operators by
//! [`Operator::symbol`], and values as compact JSON (so strings are quoted),
//! each cut to 200 characters ending in `…`. For a path without `[*]`,
//! `actual` is the one matching value; for a path with `[*]` it is the array
//! of the values that matched, or, for `neq` and `changed`, of all resolved
//! values. For `changed` on a path without `[*]`, a side where the field is
//! absent is shown as `absent` and `actual` is `null` when the field
//! disappeared.
//!
//! # Cost
//!
//! Rules are checked after every report, often thousands at a time, so the
//! work is split accordingly. Compiling parses the path once, converts the
//! rule value to the form the operator needs (a float for the ordering
//! operators, a lower-cased string for `contains`) and renders the message
//! prefix. Checking then walks the JSON and compares, and allocates only to
//! build a [`Match`]: [`CompiledCondition::evaluate`] decides a path with
//! `[*]` without collecting its values (except for `changed`, which compares
//! two lists), and a [`RuleIndex`] resolves each distinct path once per report,
//! collecting `[*]` values into two buffers shared by the whole report. The
//! `rules_bench` example of this crate measures both.
//!
//! # Where things are
//!
//! This file holds the vocabulary of a rule: [`Operator`], [`Condition`] as
//! users write and store it, [`Condition::compile`] and [`RuleError`]. Field
//! paths are parsed and resolved in `path.rs`; compiled conditions and the
//! comparisons they make are in `evaluate.rs`; the capped rendering of values
//! in messages is `render.rs`; and [`RuleIndex`] is `index.rs`.

mod evaluate;
mod index;
mod path;
mod render;
#[cfg(test)]
mod testing;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use evaluate::{CompiledCondition, Match};
pub use index::RuleIndex;
pub use path::FieldPath;

use evaluate::{Needle, Test, lower};
use render::render;

/// Longest accepted field path, in characters.
pub const MAX_FIELD_PATH_LEN: usize = 512;

/// Most `.`-separated segments in a field path.
pub const MAX_FIELD_PATH_SEGMENTS: usize = 32;

/// Longest key within a field path, in characters.
pub const MAX_FIELD_KEY_LEN: usize = 128;

/// Longest rendering of one value in a message or error, in characters,
/// including the closing `…` of a cut value.
pub const MAX_RENDERED_VALUE_LEN: usize = 200;

const FIELD: &str = "condition.field";
const VALUE: &str = "condition.value";
const OPERATOR: &str = "condition.operator";

/// How a condition compares the field with the rule's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// Some value is numeric and greater than the rule's number.
    Gt,
    /// Some value is numeric and less than the rule's number.
    Lt,
    /// Some value is numeric and greater than or equal to the rule's number.
    Gte,
    /// Some value is numeric and less than or equal to the rule's number.
    Lte,
    /// Some value equals the rule's value.
    Eq,
    /// The field is present and no value equals the rule's value.
    Neq,
    /// Some value contains the rule's string, number or boolean.
    Contains,
    /// Some value is truthy; takes no rule value.
    Exists,
    /// The values differ from the previous report's; takes no rule value.
    Changed,
}

impl Operator {
    /// Every operator, in declaration order.
    pub const ALL: &[Operator] = &[
        Operator::Gt,
        Operator::Lt,
        Operator::Gte,
        Operator::Lte,
        Operator::Eq,
        Operator::Neq,
        Operator::Contains,
        Operator::Exists,
        Operator::Changed,
    ];

    /// The wire name, e.g. `"gte"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Operator::Gt => "gt",
            Operator::Lt => "lt",
            Operator::Gte => "gte",
            Operator::Lte => "lte",
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::Contains => "contains",
            Operator::Exists => "exists",
            Operator::Changed => "changed",
        }
    }

    /// How the operator is written in match messages, e.g. `"≥"`.
    #[must_use]
    pub const fn symbol(self) -> &'static str {
        match self {
            Operator::Gt => ">",
            Operator::Lt => "<",
            Operator::Gte => "≥",
            Operator::Lte => "≤",
            Operator::Eq => "=",
            Operator::Neq => "≠",
            Operator::Contains => "contains",
            Operator::Exists => "exists",
            Operator::Changed => "changed",
        }
    }

    /// Whether a rule with this operator must carry a value (`exists` and
    /// `changed` take none).
    #[must_use]
    pub const fn needs_value(self) -> bool {
        !matches!(self, Operator::Exists | Operator::Changed)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operator {
    type Err = RuleError;

    /// Parses a wire name such as `"gte"`. The error names
    /// `condition.operator` and lists the accepted names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operator::ALL.iter().copied().find(|op| op.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Operator::ALL.iter().map(|op| op.as_str()).collect();
            RuleError::new(OPERATOR, format!("unknown operator {}; expected one of {}", render(s), names.join(", ")))
        })
    }
}

/// One alert-rule condition as users write it and as it is stored.
///
/// Holding a `Condition` proves nothing; [`Condition::compile`] checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "tool": "ip-reputation",
    "field": "abuseipdb.abuseConfidenceScore",
    "operator": "gte",
    "value": 75
}))]
pub struct Condition {
    /// The tool whose results the rule reads, e.g. `ip-reputation`.
    pub tool: String,
    /// A field path such as `abuseipdb.abuseConfidenceScore` or `ports[*].port`.
    pub field: String,
    /// How the field is compared with `value`.
    pub operator: Operator,
    /// The value to compare with: a number for `gt`/`lt`/`gte`/`lte`, any JSON
    /// for `eq`/`neq`, a string, number or boolean for `contains`, and nothing
    /// for `exists` and `changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl Condition {
    /// Checks the field path and the value against the operator, and prepares
    /// the condition for fast evaluation. The tool is not checked here.
    ///
    /// # Errors
    ///
    /// A [`RuleError`] naming `condition.field` when the path is malformed, or
    /// `condition.value` when the value is missing, superfluous or of the
    /// wrong type for the operator.
    pub fn compile(&self) -> Result<CompiledCondition, RuleError> {
        let path: FieldPath = self.field.parse()?;
        let op = self.operator;
        let value = self.value.as_ref().filter(|v| !v.is_null());
        let test = match op {
            Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => {
                let threshold = match value {
                    Some(Value::Number(n)) => n.as_f64(),
                    _ => None,
                }
                .ok_or_else(|| value_error(op, "a number", value))?;
                match op {
                    Operator::Gt => Test::Gt(threshold),
                    Operator::Lt => Test::Lt(threshold),
                    Operator::Gte => Test::Gte(threshold),
                    _ => Test::Lte(threshold),
                }
            }
            Operator::Eq | Operator::Neq => {
                let value = value.ok_or_else(|| value_error(op, "a value", None))?.clone();
                if op == Operator::Eq { Test::Eq(value) } else { Test::Neq(value) }
            }
            Operator::Contains => match value {
                Some(v @ Value::String(s)) => Test::Contains(Needle { lower: lower(s), value: v.clone() }),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                    Test::Contains(Needle { lower: lower(&v.to_string()), value: v.clone() })
                }
                _ => return Err(value_error(op, "a string, number or boolean", value)),
            },
            Operator::Exists | Operator::Changed => {
                if value.is_some() {
                    return Err(RuleError::new(VALUE, format!("operator {op} takes no value")));
                }
                if op == Operator::Exists { Test::Exists } else { Test::Changed }
            }
        };
        let mut label = format!("{path} {}", op.symbol());
        if let Some(v) = value {
            label.push(' ');
            label.push_str(&render(v));
        }
        Ok(CompiledCondition { path, test, label: label.into_boxed_str() })
    }
}

fn value_error(op: Operator, wanted: &str, got: Option<&Value>) -> RuleError {
    let message = match got {
        Some(v) => format!("operator {op} needs {wanted}, got {}", render(v)),
        None => format!("operator {op} needs {wanted}"),
    };
    RuleError::new(VALUE, message)
}

/// Why a condition was rejected. `field` names the part of the condition at
/// fault (`condition.field`, `condition.value` or `condition.operator`) so the
/// server can attach the message to the right input; `message` is a sentence
/// for the person who wrote the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// `condition.field`, `condition.value` or `condition.operator`.
    pub field: &'static str,
    /// What is wrong, e.g. `operator gte needs a number, got "75"`.
    pub message: String,
}

impl RuleError {
    fn new(field: &'static str, message: String) -> Self {
        Self { field, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;
    use serde_json::json;

    #[test]
    fn value_validation() {
        let cases: &[(Operator, Option<Value>, &str)] = &[
            (Operator::Gte, Some(json!("75")), "condition.value: operator gte needs a number, got \"75\""),
            (Operator::Gt, None, "condition.value: operator gt needs a number"),
            (Operator::Lt, Some(json!(true)), "condition.value: operator lt needs a number, got true"),
            (Operator::Lte, Some(json!([1])), "condition.value: operator lte needs a number, got [1]"),
            (Operator::Gte, Some(Value::Null), "condition.value: operator gte needs a number"),
            (Operator::Eq, None, "condition.value: operator eq needs a value"),
            (Operator::Neq, Some(Value::Null), "condition.value: operator neq needs a value"),
            (Operator::Contains, None, "condition.value: operator contains needs a string, number or boolean"),
            (
                Operator::Contains,
                Some(json!({ "a": 1 })),
                "condition.value: operator contains needs a string, number or boolean, got {\"a\":1}",
            ),
            (
                Operator::Contains,
                Some(json!(["a"])),
                "condition.value: operator contains needs a string, number or boolean, got [\"a\"]",
            ),
            (Operator::Exists, Some(json!(true)), "condition.value: operator exists takes no value"),
            (Operator::Changed, Some(json!(0)), "condition.value: operator changed takes no value"),
        ];
        for (op, value, want) in cases {
            assert_eq!(compile_err("a.b", *op, value.clone()), *want, "{op} {value:?}");
        }
        // Accepted shapes.
        for (op, value) in [
            (Operator::Exists, Some(Value::Null)),
            (Operator::Changed, None),
            (Operator::Eq, Some(json!([1, { "a": null }]))),
            (Operator::Neq, Some(json!(""))),
            (Operator::Contains, Some(json!(1.5))),
            (Operator::Contains, Some(json!(false))),
            (Operator::Lte, Some(json!(-3))),
        ] {
            let c = Condition { tool: "t".into(), field: "a".into(), operator: op, value };
            assert_eq!(c.compile().map(|c| c.operator()), Ok(op));
        }
    }

    #[test]
    fn operator_names() {
        let table = [
            (Operator::Gt, "gt", ">", true),
            (Operator::Lt, "lt", "<", true),
            (Operator::Gte, "gte", "≥", true),
            (Operator::Lte, "lte", "≤", true),
            (Operator::Eq, "eq", "=", true),
            (Operator::Neq, "neq", "≠", true),
            (Operator::Contains, "contains", "contains", true),
            (Operator::Exists, "exists", "exists", false),
            (Operator::Changed, "changed", "changed", false),
        ];
        assert_eq!(table.len(), Operator::ALL.len());
        for (op, name, symbol, needs_value) in table {
            assert_eq!(op.as_str(), name);
            assert_eq!(op.symbol(), symbol);
            assert_eq!(op.needs_value(), needs_value, "{op}");
            assert_eq!(name.parse::<Operator>(), Ok(op));
            assert_eq!(serde_json::to_value(op).expect("json"), json!(name));
            assert_eq!(serde_json::from_value::<Operator>(json!(name)).expect("json"), op);
        }
        let err = "GTE".parse::<Operator>().expect_err("case-sensitive");
        assert_eq!(
            err.to_string(),
            "condition.operator: unknown operator \"GTE\"; expected one of gt, lt, gte, lte, eq, neq, contains, exists, changed"
        );
    }

    #[test]
    fn condition_wire_form() {
        let c: Condition = serde_json::from_value(json!({
            "tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75
        }))
        .expect("json");
        assert_eq!(c.operator, Operator::Gte);
        assert_eq!(c.value, Some(json!(75)));
        let no_value: Condition =
            serde_json::from_value(json!({ "tool": "ssl", "field": "ssl.selfSigned", "operator": "exists" }))
                .expect("json");
        assert_eq!(no_value.value, None);
        assert_eq!(
            serde_json::to_value(&no_value).expect("json"),
            json!({ "tool": "ssl", "field": "ssl.selfSigned", "operator": "exists" })
        );
        assert!(serde_json::from_value::<Condition>(json!({ "tool": "t", "field": "a", "operator": "like" })).is_err());

        let schema = serde_json::to_value(<Condition as utoipa::PartialSchema>::schema()).expect("json");
        let properties = schema["properties"].as_object().expect("properties");
        assert!(["tool", "field", "operator", "value"].iter().all(|k| properties.contains_key(*k)), "{schema}");
        let required = schema["required"].as_array().expect("required");
        assert!(!required.contains(&json!("value")), "{schema}");
        let operator = serde_json::to_value(<Operator as utoipa::PartialSchema>::schema()).expect("json");
        assert_eq!(operator["enum"], json!(["gt", "lt", "gte", "lte", "eq", "neq", "contains", "exists", "changed"]));
    }
}
