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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

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

/// A parsed field path; see the [module documentation](self) for the syntax.
///
/// Parsed once, at compile time, so that evaluation only walks the JSON.
/// Displays in canonical form (indices without leading zeros), which parses
/// back to an equal path.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    steps: Box<[Step]>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(Box<str>),
    Index(usize),
    Last,
    Each,
}

impl FieldPath {
    /// Every value the path reaches in `v`, in document order; empty when the
    /// field is absent.
    #[must_use]
    pub fn resolve<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        let mut out = Vec::new();
        self.resolve_into(v, &mut out);
        out
    }

    /// Like [`FieldPath::resolve`], appending to `out` so a caller can reuse
    /// one buffer.
    pub fn resolve_into<'a>(&self, v: &'a Value, out: &mut Vec<&'a Value>) {
        any_reached(&self.steps, v, &mut |found| {
            out.push(found);
            false
        });
    }

    /// Whether `f` holds for some value the path reaches, stopping at the
    /// first; allocates nothing.
    fn any<'a>(&self, v: &'a Value, mut f: impl FnMut(&'a Value) -> bool) -> bool {
        any_reached(&self.steps, v, &mut f)
    }

    /// Whether the path contains `[*]` and so may reach many values.
    #[must_use]
    pub fn has_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The one value a path without `[*]` reaches. A path with `[*]` reaches
    /// nothing through this method.
    fn resolve_one<'a>(&self, mut v: &'a Value) -> Option<&'a Value> {
        for step in &self.steps {
            v = descend(step, v)?;
        }
        Some(v)
    }
}

fn descend<'a>(step: &Step, v: &'a Value) -> Option<&'a Value> {
    match (step, v) {
        (Step::Key(key), Value::Object(map)) => map.get(&**key),
        (Step::Index(i), Value::Array(items)) => items.get(*i),
        (Step::Last, Value::Array(items)) => items.last(),
        _ => None,
    }
}

/// Calls `f` on every value `steps` reach from `v`, in document order, until
/// it returns `true`; returns whether it did.
fn any_reached<'a, F: FnMut(&'a Value) -> bool>(steps: &[Step], mut v: &'a Value, f: &mut F) -> bool {
    for (i, step) in steps.iter().enumerate() {
        if *step == Step::Each {
            return match v {
                Value::Array(items) => items.iter().any(|item| any_reached(&steps[i + 1..], item, f)),
                _ => false,
            };
        }
        match descend(step, v) {
            Some(next) => v = next,
            None => return false,
        }
    }
    f(v)
}

impl FromStr for FieldPath {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_path(s)
            .map_err(|reason| RuleError::new(FIELD, format!("{} is not a valid field path: {reason}", render(s))))
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '@')
}

/// Parses `s`, or says why not (with a 1-based character position).
fn parse_path(s: &str) -> Result<FieldPath, String> {
    if s.is_empty() {
        return Err("it is empty".to_owned());
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() > MAX_FIELD_PATH_LEN {
        return Err(format!("it is {} characters long; at most {MAX_FIELD_PATH_LEN} are allowed", chars.len()));
    }
    let unexpected_in_key = |c: char, i: usize| {
        format!(
            "unexpected {} at character {}; keys may contain only letters, digits, _, -, : and @",
            render(&c.to_string()),
            i + 1
        )
    };
    let mut steps = Vec::new();
    let mut segments = 0;
    let mut i = 0;
    loop {
        let start = i;
        while chars.get(i).copied().is_some_and(is_key_char) {
            i += 1;
        }
        if i == start {
            return Err(match chars.get(i) {
                None | Some('.' | '[') => format!("expected a key at character {}", i + 1),
                Some(&c) => unexpected_in_key(c, i),
            });
        }
        if i - start > MAX_FIELD_KEY_LEN {
            return Err(format!(
                "the key at character {} is {} characters long; at most {MAX_FIELD_KEY_LEN} are allowed",
                start + 1,
                i - start
            ));
        }
        segments += 1;
        if segments > MAX_FIELD_PATH_SEGMENTS {
            return Err(format!("it has more than {MAX_FIELD_PATH_SEGMENTS} segments"));
        }
        steps.push(Step::Key(chars[start..i].iter().collect::<String>().into_boxed_str()));

        let mut after_index = false;
        while chars.get(i) == Some(&'[') {
            i += 1;
            let step = match chars.get(i) {
                Some('*') => {
                    i += 1;
                    Step::Each
                }
                Some(&c) if c.is_ascii_digit() || c == '-' => {
                    let sign_at = i;
                    if c == '-' {
                        i += 1;
                    }
                    let digits_at = i;
                    while chars.get(i).is_some_and(char::is_ascii_digit) {
                        i += 1;
                    }
                    if i == digits_at {
                        return Err(format!("expected a number or * inside [] at character {}", i + 1));
                    }
                    let n: usize = chars[digits_at..i]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .map_err(|_| format!("the index at character {} is too large", digits_at + 1))?;
                    if c != '-' {
                        Step::Index(n)
                    } else if n == 1 {
                        Step::Last
                    } else {
                        return Err(format!(
                            "only -1 (the last element) is allowed as a negative index, at character {}",
                            sign_at + 1
                        ));
                    }
                }
                _ => return Err(format!("expected a number or * inside [] at character {}", i + 1)),
            };
            if chars.get(i) != Some(&']') {
                return Err(format!("expected ] at character {}", i + 1));
            }
            i += 1;
            steps.push(step);
            after_index = true;
        }

        match chars.get(i) {
            None => break,
            Some('.') => i += 1,
            Some(_) if after_index => {
                return Err(format!("expected ., [ or the end of the path at character {}", i + 1));
            }
            Some(&c) => return Err(unexpected_in_key(c, i)),
        }
    }
    let wildcard = steps.contains(&Step::Each);
    Ok(FieldPath { steps: steps.into_boxed_slice(), wildcard })
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Key(key) if i == 0 => f.write_str(key)?,
                Step::Key(key) => write!(f, ".{key}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Last => f.write_str("[-1]")?,
                Step::Each => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.to_string())
    }
}

/// A [`Condition`] that passed [`Condition::compile`]: the path parsed, the
/// value converted to what the operator compares with, and the message prefix
/// rendered.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    path: FieldPath,
    test: Test,
    /// `"{path} {symbol}"`, then `" {value}"` for operators with a value.
    label: Box<str>,
}

/// The operator together with its pre-converted value.
#[derive(Debug, Clone)]
enum Test {
    Gt(f64),
    Lt(f64),
    Gte(f64),
    Lte(f64),
    Eq(Value),
    Neq(Value),
    Contains(Needle),
    Exists,
    Changed,
}

/// The value of a `contains` rule.
#[derive(Debug, Clone)]
struct Needle {
    /// The value's text, lower-cased.
    lower: Box<str>,
    /// The value itself (a string, number or boolean), for array elements.
    value: Value,
}

impl Needle {
    fn found_in(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => contains_ignoring_case(s, &self.lower),
            Value::Array(items) => items.iter().any(|item| match (&self.value, item) {
                (Value::String(_), Value::String(s)) => eq_ignoring_case(s, &self.lower),
                (want, item) => json_eq(want, item),
            }),
            _ => false,
        }
    }
}

/// A successful check: what was found, and a sentence saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The matching value; for a path with `[*]`, the array of matching values
    /// (of all resolved values for `neq` and `changed`).
    pub actual: Value,
    /// E.g. `abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)`.
    pub message: String,
}

impl CompiledCondition {
    /// The parsed field path.
    #[must_use]
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    /// The operator.
    #[must_use]
    pub fn operator(&self) -> Operator {
        match self.test {
            Test::Gt(_) => Operator::Gt,
            Test::Lt(_) => Operator::Lt,
            Test::Gte(_) => Operator::Gte,
            Test::Lte(_) => Operator::Lte,
            Test::Eq(_) => Operator::Eq,
            Test::Neq(_) => Operator::Neq,
            Test::Contains(_) => Operator::Contains,
            Test::Exists => Operator::Exists,
            Test::Changed => Operator::Changed,
        }
    }

    /// Whether evaluation reads the previous report (only `changed` does).
    #[must_use]
    pub fn needs_previous(&self) -> bool {
        matches!(self.test, Test::Changed)
    }

    /// Checks the condition against a tool result.
    ///
    /// `previous` is the result of the previous completed report of the same
    /// tool and asset; only `changed` reads it. Returns `None` when the
    /// condition does not hold.
    #[must_use]
    pub fn evaluate(&self, current: &Value, previous: Option<&Value>) -> Option<Match> {
        let previous = if self.needs_previous() { Some(previous?) } else { None };
        if !self.path.wildcard {
            let now = self.path.resolve_one(current);
            let was = previous.map(|p| self.path.resolve_one(p));
            return self.check(now.as_slice(), was.as_ref().map(Option::as_slice));
        }
        // A path with `[*]`: decide without collecting, so that a rule that
        // does not match allocates nothing (`changed` needs both lists).
        let may_match = match &self.test {
            Test::Changed => true,
            Test::Neq(want) => {
                let mut present = false;
                let equal = self.path.any(current, |v| {
                    present = true;
                    json_eq(v, want)
                });
                present && !equal
            }
            _ => self.path.any(current, |v| self.holds(v)),
        };
        if !may_match {
            return None;
        }
        let now = self.path.resolve(current);
        let was = previous.map(|p| self.path.resolve(p));
        self.check(&now, was.as_deref())
    }

    /// Checks already-resolved values. `was` is `None` when there is no
    /// previous report (or the condition does not need one).
    fn check(&self, now: &[&Value], was: Option<&[&Value]>) -> Option<Match> {
        match &self.test {
            Test::Neq(want) => {
                if now.is_empty() || now.iter().any(|v| json_eq(v, want)) {
                    return None;
                }
                let actual = self.actual_all(now);
                Some(self.found(actual))
            }
            Test::Changed => {
                let was = was?;
                if same_values(was, now) {
                    return None;
                }
                let (was_text, now_text) = if self.path.wildcard {
                    (render(was), render(now))
                } else {
                    (render_or_absent(was.first()), render_or_absent(now.first()))
                };
                let mut message = String::with_capacity(self.label.len() + was_text.len() + now_text.len() + 16);
                message.push_str(&self.label);
                message.push_str(" (was: ");
                message.push_str(&was_text);
                message.push_str(", now: ");
                message.push_str(&now_text);
                message.push(')');
                Some(Match { actual: self.actual_all(now), message })
            }
            _ => {
                let first = now.iter().position(|v| self.holds(v))?;
                let actual = if self.path.wildcard {
                    let mut matching = Vec::with_capacity(now.len() - first);
                    matching.extend(now[first..].iter().filter(|v| self.holds(v)).map(|v| (*v).clone()));
                    Value::Array(matching)
                } else {
                    now[first].clone()
                };
                Some(self.found(actual))
            }
        }
    }

    /// Whether one value satisfies an operator that matches when any value
    /// does (everything but `neq` and `changed`).
    fn holds(&self, v: &Value) -> bool {
        match &self.test {
            Test::Gt(t) => numeric(v).is_some_and(|x| x > *t),
            Test::Lt(t) => numeric(v).is_some_and(|x| x < *t),
            Test::Gte(t) => numeric(v).is_some_and(|x| x >= *t),
            Test::Lte(t) => numeric(v).is_some_and(|x| x <= *t),
            Test::Eq(want) => json_eq(v, want),
            Test::Contains(needle) => needle.found_in(v),
            Test::Exists => truthy(v),
            Test::Neq(_) | Test::Changed => false,
        }
    }

    /// `actual` when every resolved value is reported.
    fn actual_all(&self, values: &[&Value]) -> Value {
        if self.path.wildcard {
            Value::Array(values.iter().map(|v| (*v).clone()).collect())
        } else {
            values.first().map_or(Value::Null, |v| (*v).clone())
        }
    }

    fn found(&self, actual: Value) -> Match {
        let mut message = String::with_capacity(self.label.len() + 48);
        message.push_str(&self.label);
        message.push_str(" (actual: ");
        render_into(&mut message, &actual);
        message.push(')');
        Match { actual, message }
    }
}

/// The number a value stands for, if it is numeric: a JSON number, or a
/// string that parses in full as a finite number.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Equality for `eq`, `neq` and `changed`: numbers numerically, everything
/// else by type and value, recursively.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, p)| y.get(key).is_some_and(|q| json_eq(p, q)))
        }
        _ => false,
    }
}

/// Whether two lists of resolved values are equal element by element, as
/// `changed` compares them.
fn same_values(a: &[&Value], b: &[&Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
}

/// Integers compare exactly (so large ids do not collide through rounding);
/// anything involving a float compares as `f64`.
fn number_eq(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    x.as_f64() == y.as_f64()
}

/// Lower-cases character by character, the same way the comparisons below do
/// (unlike `str::to_lowercase`, which treats a final sigma specially).
fn lower(s: &str) -> Box<str> {
    s.chars().flat_map(char::to_lowercase).collect::<String>().into_boxed_str()
}

/// Whether `lower_needle` (already lower-cased) occurs in `haystack`,
/// ignoring case, without allocating.
fn contains_ignoring_case(haystack: &str, lower_needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), lower_needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    if lower_needle.is_ascii() && haystack.is_ascii() {
        if h.len() < n.len() {
            return false;
        }
        let upper = first.to_ascii_uppercase();
        return (0..=h.len() - n.len())
            .any(|i| (h[i] == first || h[i] == upper) && h[i + 1..i + n.len()].eq_ignore_ascii_case(rest));
    }
    haystack.char_indices().any(|(i, _)| {
        let mut rest = haystack[i..].chars().flat_map(char::to_lowercase);
        lower_needle.chars().all(|c| rest.next() == Some(c))
    })
}

fn eq_ignoring_case(s: &str, lower_other: &str) -> bool {
    if s.is_ascii() && lower_other.is_ascii() {
        return s.eq_ignore_ascii_case(lower_other);
    }
    s.chars().flat_map(char::to_lowercase).eq(lower_other.chars())
}

/// Compact JSON, cut to [`MAX_RENDERED_VALUE_LEN`] characters.
fn render<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    render_into(&mut out, value);
    out
}

/// Appends `value` as compact JSON to `out`, cut to
/// [`MAX_RENDERED_VALUE_LEN`] characters ending in `…`. Serialisation stops
/// early, so rendering a huge value costs no more than a small one.
fn render_into<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    /// Enough bytes for more than the allowed number of characters.
    const BYTE_BUDGET: usize = MAX_RENDERED_VALUE_LEN * 4 + 4;

    struct Capped {
        bytes: Vec<u8>,
        limit: usize,
    }
    impl io::Write for Capped {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let room = self.limit - self.bytes.len();
            if data.len() > room {
                self.bytes.extend_from_slice(&data[..room]);
                return Err(io::Error::other("rendering budget exhausted"));
            }
            self.bytes.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let start = out.len();
    let mut w = Capped { bytes: std::mem::take(out).into_bytes(), limit: start + BYTE_BUDGET };
    // An error only means the budget ran out; what was written is kept.
    let _ = serde_json::to_writer(&mut w, value);
    let mut bytes = w.bytes;
    // The budget may have split a character: keep whole ones only. The part
    // before `start` came from a `String`, so it is valid already.
    let valid = match std::str::from_utf8(&bytes[start..]) {
        Ok(rendered) => rendered.len(),
        Err(e) => e.valid_up_to(),
    };
    bytes.truncate(start + valid);
    let mut text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let mut chars = text[start..].char_indices();
    if let Some((last_kept, _)) = chars.nth(MAX_RENDERED_VALUE_LEN - 1)
        && chars.next().is_some()
    {
        text.truncate(start + last_kept);
        text.push('…');
    }
    *out = text;
}

fn render_or_absent(v: Option<&&Value>) -> String {
    v.map_or_else(|| "absent".to_owned(), |v| render(*v))
}

/// The compiled rules of one organisation, indexed for checking reports.
///
/// Rules are bucketed by tool, so a report is checked against only its tool's
/// rules, and within a tool grouped by distinct field path, so each path is
/// resolved once per report however many rules read it. Within a path, rules
/// are arranged so that most of those that cannot match are never looked at:
/// ordering rules are sorted by threshold (one pass over the values finds
/// their minimum and maximum, and a binary search finds the rules that hold),
/// `eq` rules on strings and numbers are looked up by the values found, and
/// `exists` and `changed` are decided once for all rules that use them. The
/// other rules (`contains`, `neq`, `eq` on booleans, arrays and objects) are
/// checked one by one. Every candidate is confirmed by the same check
/// [`CompiledCondition::evaluate`] uses, so the index changes the cost of
/// evaluation, never its outcome.
///
/// `K` identifies a rule to the caller (typically its id) and is handed back
/// with each match.
#[derive(Debug, Clone)]
pub struct RuleIndex<K> {
    tools: HashMap<String, ToolRules<K>>,
    len: usize,
}

#[derive(Debug, Clone)]
struct ToolRules<K> {
    groups: Vec<PathGroup<K>>,
    needs_previous: bool,
}

#[derive(Debug, Clone)]
struct PathGroup<K> {
    path: FieldPath,
    needs_previous: bool,
    rules: Vec<IndexedRule<K>>,
    plan: Plan,
}

/// Which rules of a [`PathGroup`] to consider for given values, as positions
/// in `PathGroup::rules`.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// `(threshold, rule)` for each operator, by ascending threshold.
    gt: Vec<(f64, usize)>,
    gte: Vec<(f64, usize)>,
    lt: Vec<(f64, usize)>,
    lte: Vec<(f64, usize)>,
    /// `eq` rules whose value is a string, by that string.
    eq_text: HashMap<Box<str>, Vec<usize>>,
    /// `eq` rules whose value is a number, by [`number_key`].
    eq_number: HashMap<u64, Vec<usize>>,
    exists: Vec<usize>,
    changed: Vec<usize>,
    /// Rules checked one by one.
    each: Vec<usize>,
}

impl Plan {
    fn new<K>(rules: &[IndexedRule<K>]) -> Self {
        let mut plan = Plan::default();
        for (i, rule) in rules.iter().enumerate() {
            match &rule.condition.test {
                Test::Gt(t) => plan.gt.push((*t, i)),
                Test::Gte(t) => plan.gte.push((*t, i)),
                Test::Lt(t) => plan.lt.push((*t, i)),
                Test::Lte(t) => plan.lte.push((*t, i)),
                Test::Eq(Value::String(text)) => plan.eq_text.entry(text.as_str().into()).or_default().push(i),
                Test::Eq(Value::Number(n)) => match number_key(n) {
                    Some(key) => plan.eq_number.entry(key).or_default().push(i),
                    None => plan.each.push(i),
                },
                Test::Exists => plan.exists.push(i),
                Test::Changed => plan.changed.push(i),
                Test::Eq(_) | Test::Neq(_) | Test::Contains(_) => plan.each.push(i),
            }
        }
        for list in [&mut plan.gt, &mut plan.gte, &mut plan.lt, &mut plan.lte] {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        plan
    }

    /// Calls `consider` with every rule that may match `now` (and `was`), at
    /// least once each; a rule may be named twice when `now` holds equal
    /// values.
    fn candidates(&self, now: &[&Value], was: Option<&[&Value]>, mut consider: impl FnMut(usize)) {
        if !(self.gt.is_empty() && self.gte.is_empty() && self.lt.is_empty() && self.lte.is_empty()) {
            let mut range: Option<(f64, f64)> = None;
            for x in now.iter().filter_map(|v| numeric(v)) {
                range = Some(range.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
            }
            if let Some((lo, hi)) = range {
                // Some value is > t exactly when the largest is, and so on.
                let below = |list: &[(f64, usize)], x: f64| list.partition_point(|(t, _)| *t < x);
                let at_most = |list: &[(f64, usize)], x: f64| list.partition_point(|(t, _)| *t <= x);
                self.gt[..below(&self.gt, hi)].iter().for_each(|(_, i)| consider(*i));
                self.gte[..at_most(&self.gte, hi)].iter().for_each(|(_, i)| consider(*i));
                self.lt[at_most(&self.lt, lo)..].iter().for_each(|(_, i)| consider(*i));
                self.lte[below(&self.lte, lo)..].iter().for_each(|(_, i)| consider(*i));
            }
        }
        if !(self.eq_text.is_empty() && self.eq_number.is_empty()) {
            for v in now {
                let hits = match v {
                    Value::String(text) => self.eq_text.get(text.as_str()),
                    Value::Number(n) => number_key(n).and_then(|key| self.eq_number.get(&key)),
                    _ => None,
                };
                hits.into_iter().flatten().for_each(|i| consider(*i));
            }
        }
        if !self.exists.is_empty() && now.iter().any(|v| truthy(v)) {
            self.exists.iter().for_each(|i| consider(*i));
        }
        if !self.changed.is_empty() && was.is_some_and(|was| !same_values(was, now)) {
            self.changed.iter().for_each(|i| consider(*i));
        }
        self.each.iter().for_each(|i| consider(*i));
    }
}

/// A hash key under which numbers that [`number_eq`] may find equal meet:
/// the bits of the `f64` value, with `-0` folded into `0`.
fn number_key(n: &serde_json::Number) -> Option<u64> {
    let x = n.as_f64()?;
    Some(if x == 0.0 { 0 } else { x.to_bits() })
}

#[derive(Debug, Clone)]
struct IndexedRule<K> {
    /// Position in the input, so matches come back in the order given.
    seq: usize,
    key: K,
    condition: CompiledCondition,
}

impl<K> Default for RuleIndex<K> {
    fn default() -> Self {
        Self { tools: HashMap::new(), len: 0 }
    }
}

impl<K> RuleIndex<K> {
    /// Indexes `(key, tool, condition)` triples.
    pub fn new(rules: impl IntoIterator<Item = (K, String, CompiledCondition)>) -> Self {
        let mut tools: HashMap<String, ToolRules<K>> = HashMap::new();
        let mut group_of: HashMap<(String, FieldPath), usize> = HashMap::new();
        let mut len = 0;
        for (seq, (key, tool, condition)) in rules.into_iter().enumerate() {
            len += 1;
            let needs_previous = condition.needs_previous();
            let path = condition.path.clone();
            let bucket = tools.entry(tool.clone()).or_insert_with(|| ToolRules { groups: Vec::new(), needs_previous });
            bucket.needs_previous |= needs_previous;
            let group = match group_of.entry((tool, path)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    bucket.groups.push(PathGroup {
                        path: e.key().1.clone(),
                        needs_previous,
                        rules: Vec::new(),
                        plan: Plan::default(),
                    });
                    *e.insert(bucket.groups.len() - 1)
                }
            };
            let group = &mut bucket.groups[group];
            group.needs_previous |= needs_previous;
            group.rules.push(IndexedRule { seq, key, condition });
        }
        for group in tools.values_mut().flat_map(|bucket| bucket.groups.iter_mut()) {
            group.plan = Plan::new(&group.rules);
        }
        Self { tools, len }
    }

    /// Number of rules.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rules.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any rule for `tool` uses `changed`, i.e. whether the caller
    /// needs to load the previous report before calling
    /// [`RuleIndex::evaluate`].
    #[must_use]
    pub fn needs_previous(&self, tool: &str) -> bool {
        self.tools.get(tool).is_some_and(|t| t.needs_previous)
    }

    /// Checks a result of `tool` against that tool's rules and returns the
    /// matching rules, in the order they were given to [`RuleIndex::new`].
    /// Each match is the one [`CompiledCondition::evaluate`] would return.
    ///
    /// Allocates nothing when no rule matches and no path has `[*]`; paths
    /// with `[*]` share two buffers for the whole report.
    #[must_use]
    pub fn evaluate(&self, tool: &str, current: &Value, previous: Option<&Value>) -> Vec<(&K, Match)> {
        let Some(bucket) = self.tools.get(tool) else {
            return Vec::new();
        };
        let mut found: Vec<(usize, &K, Match)> = Vec::new();
        let mut now_buf: Vec<&Value> = Vec::new();
        let mut was_buf: Vec<&Value> = Vec::new();
        for group in &bucket.groups {
            let now_one;
            let now: &[&Value] = if group.path.wildcard {
                now_buf.clear();
                group.path.resolve_into(current, &mut now_buf);
                &now_buf
            } else {
                now_one = group.path.resolve_one(current);
                now_one.as_slice()
            };
            if now.is_empty() && !(group.needs_previous && previous.is_some()) {
                // Absent, and no `changed` rule can see it appear: nothing in
                // this group can match.
                continue;
            }
            let was_one;
            let was: Option<&[&Value]> = match previous {
                Some(previous) if group.needs_previous => Some(if group.path.wildcard {
                    was_buf.clear();
                    group.path.resolve_into(previous, &mut was_buf);
                    &was_buf
                } else {
                    was_one = group.path.resolve_one(previous);
                    was_one.as_slice()
                }),
                _ => None,
            };
            group.plan.candidates(now, was, |i| {
                let rule = &group.rules[i];
                if let Some(m) = rule.condition.check(now, was) {
                    found.push((rule.seq, &rule.key, m));
                }
            });
        }
        if !found.is_sorted_by_key(|(seq, ..)| *seq) {
            found.sort_unstable_by_key(|(seq, ..)| *seq);
        }
        // A rule found through two equal values is reported once.
        found.dedup_by_key(|(seq, ..)| *seq);
        found.into_iter().map(|(_, key, m)| (key, m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Compiles a condition; a `null` value means "no value".
    fn compile(field: &str, operator: Operator, value: Value) -> CompiledCondition {
        let value = if value.is_null() { None } else { Some(value) };
        Condition { tool: "t".to_owned(), field: field.to_owned(), operator, value }
            .compile()
            .unwrap_or_else(|e| panic!("{field} {operator}: {e}"))
    }

    fn compile_err(field: &str, operator: Operator, value: Option<Value>) -> String {
        Condition { tool: "t".to_owned(), field: field.to_owned(), operator, value }
            .compile()
            .expect_err("should be rejected")
            .to_string()
    }

    fn holds(field: &str, operator: Operator, value: Value, doc: &Value) -> bool {
        compile(field, operator, value).evaluate(doc, None).is_some()
    }

    fn message(field: &str, operator: Operator, value: Value, doc: &Value) -> String {
        compile(field, operator, value).evaluate(doc, None).expect("should match").message
    }

    fn path(s: &str) -> FieldPath {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn sample() -> Value {
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

    // ---- field paths -------------------------------------------------------

    #[test]
    fn paths_resolve_every_form() {
        let doc = sample();
        let cases: &[(&str, Value)] = &[
            ("registrar", json!(["Cloudflare, Inc."])),
            ("abuseipdb.abuseConfidenceScore", json!([92])),
            ("ports[1].port", json!([443])),
            ("ports[-1].service", json!(["https-alt"])),
            ("ports[*].port", json!([22, 443, 8443])),
            ("records.A[*].ttl", json!([300, 60])),
            ("matrix[0][1]", json!([2])),
            ("matrix[-1][-1]", json!([5])),
            ("matrix[*][*]", json!([1, 2, 3, 4, 5])),
            ("matrix[*][2]", json!([5])),
            ("matrix[*]", json!([[1, 2], [3, 4, 5]])),
            ("certificates[0].daysToExpiry", json!([12])),
            ("x:y@z", json!([1])),
            ("empty.n", json!([null])),
            // Absent: key on an array, out-of-range, wrong container, missing key.
            ("ports.port", json!([])),
            ("ports[3].port", json!([])),
            ("records.MX[-1]", json!([])),
            ("records.MX[*]", json!([])),
            ("registrar[0]", json!([])),
            ("registrar[*]", json!([])),
            ("abuseipdb[0]", json!([])),
            ("registrar.name", json!([])),
            ("Registrar", json!([])),
            ("nope", json!([])),
        ];
        for (p, want) in cases {
            let got: Vec<Value> = path(p).resolve(&doc).into_iter().cloned().collect();
            assert_eq!(Value::Array(got), *want, "{p}");
        }
    }

    #[test]
    fn paths_display_canonically() {
        for (input, canonical) in [
            ("a", "a"),
            ("a.b.c", "a.b.c"),
            ("a[007].b", "a[7].b"),
            ("a[-01]", "a[-1]"),
            ("matrix[0][*][-1].x", "matrix[0][*][-1].x"),
            ("A-b_c:d@e", "A-b_c:d@e"),
        ] {
            let p = path(input);
            assert_eq!(p.to_string(), canonical);
            assert_eq!(path(canonical), p);
            assert_eq!(format!("{p:?}"), format!("FieldPath({canonical:?})"));
        }
        assert!(path("a[*].b").has_wildcard());
        assert!(!path("a[0].b").has_wildcard());
    }

    #[test]
    fn paths_at_the_limits() {
        let key = "k".repeat(MAX_FIELD_KEY_LEN);
        assert!(key.parse::<FieldPath>().is_ok());
        let segments = vec!["a"; MAX_FIELD_PATH_SEGMENTS].join(".");
        assert!(segments.parse::<FieldPath>().is_ok());
        let long = format!("{}.{}.{}.{}", "a".repeat(128), "b".repeat(128), "c".repeat(128), "d".repeat(125));
        assert_eq!(long.chars().count(), MAX_FIELD_PATH_LEN);
        assert!(long.parse::<FieldPath>().is_ok());
    }

    #[test]
    fn path_errors_name_position_and_reason() {
        let long_key = "k".repeat(129);
        let too_long = "a.".repeat(256) + "a";
        let too_many = vec!["a"; 33].join(".");
        let cases: Vec<(&str, String)> = vec![
            ("ports[x]", "\"ports[x]\" is not a valid field path: expected a number or * inside [] at character 7".into()),
            ("", "\"\" is not a valid field path: it is empty".into()),
            (".a", "\".a\" is not a valid field path: expected a key at character 1".into()),
            ("a.", "\"a.\" is not a valid field path: expected a key at character 3".into()),
            ("a..b", "\"a..b\" is not a valid field path: expected a key at character 3".into()),
            ("[0]", "\"[0]\" is not a valid field path: expected a key at character 1".into()),
            ("a.[0]", "\"a.[0]\" is not a valid field path: expected a key at character 3".into()),
            (
                "a b",
                "\"a b\" is not a valid field path: unexpected \" \" at character 2; keys may contain only letters, digits, _, -, : and @"
                    .into(),
            ),
            (
                "$.a",
                "\"$.a\" is not a valid field path: unexpected \"$\" at character 1; keys may contain only letters, digits, _, -, : and @"
                    .into(),
            ),
            (
                "größe",
                "\"größe\" is not a valid field path: unexpected \"ö\" at character 3; keys may contain only letters, digits, _, -, : and @"
                    .into(),
            ),
            ("a[0]b", "\"a[0]b\" is not a valid field path: expected ., [ or the end of the path at character 5".into()),
            ("a[", "\"a[\" is not a valid field path: expected a number or * inside [] at character 3".into()),
            ("a[]", "\"a[]\" is not a valid field path: expected a number or * inside [] at character 3".into()),
            ("a[-]", "\"a[-]\" is not a valid field path: expected a number or * inside [] at character 4".into()),
            ("a[0", "\"a[0\" is not a valid field path: expected ] at character 4".into()),
            ("a[*x]", "\"a[*x]\" is not a valid field path: expected ] at character 4".into()),
            ("a[1.5]", "\"a[1.5]\" is not a valid field path: expected ] at character 4".into()),
            (
                "a[-2]",
                "\"a[-2]\" is not a valid field path: only -1 (the last element) is allowed as a negative index, at character 3"
                    .into(),
            ),
            (
                "a[-0]",
                "\"a[-0]\" is not a valid field path: only -1 (the last element) is allowed as a negative index, at character 3"
                    .into(),
            ),
            (
                "a[99999999999999999999999]",
                "\"a[99999999999999999999999]\" is not a valid field path: the index at character 3 is too large".into(),
            ),
            (
                &long_key,
                format!(
                    "\"{long_key}\" is not a valid field path: the key at character 1 is 129 characters long; at most 128 are allowed"
                ),
            ),
            (&too_many, format!("\"{too_many}\" is not a valid field path: it has more than 32 segments")),
        ];
        for (input, want) in cases {
            let err = input.parse::<FieldPath>().expect_err(input);
            assert_eq!(err.field, "condition.field", "{input}");
            assert_eq!(err.message, want, "{input}");
        }
        let err = too_long.parse::<FieldPath>().expect_err("too long");
        assert!(err.message.ends_with("is not a valid field path: it is 513 characters long; at most 512 are allowed"));
        // The echoed input is capped like any rendered value.
        assert!(err.message.starts_with("\"a.a.a."), "{}", err.message);
        assert!(err.message.contains('…'));
        assert_eq!(
            compile_err("ports[x]", Operator::Eq, Some(json!(1))),
            "condition.field: \"ports[x]\" is not a valid field path: expected a number or * inside [] at character 7"
        );
    }

    // ---- operators ---------------------------------------------------------

    #[test]
    fn ordering_operators() {
        let doc = sample();
        let p = "abuseipdb.abuseConfidenceScore";
        for (op, threshold, want) in [
            (Operator::Gt, 91.5, true),
            (Operator::Gt, 92.0, false),
            (Operator::Gte, 92.0, true),
            (Operator::Gte, 92.5, false),
            (Operator::Lt, 92.5, true),
            (Operator::Lt, 92.0, false),
            (Operator::Lte, 92.0, true),
            (Operator::Lte, 91.0, false),
        ] {
            assert_eq!(holds(p, op, json!(threshold), &doc), want, "{op} {threshold}");
        }
        // Integers as rule values too.
        assert!(holds(p, Operator::Gte, json!(75), &doc));
        assert!(!holds(p, Operator::Lt, json!(-5), &doc));
    }

    #[test]
    fn numeric_strings_compare_and_others_do_not() {
        let doc = sample();
        assert!(holds("vt.malicious", Operator::Gte, json!(7), &doc));
        assert!(!holds("vt.malicious", Operator::Gt, json!(7), &doc));
        assert!(holds("vt.sci", Operator::Gt, json!(999), &doc));
        // Not numeric: surrounding whitespace, NaN, infinity, text, booleans, null, containers.
        for field in ["vt.harmless", "vt.odd", "vt.big", "registrar", "vt.flag", "empty.n", "ports", "abuseipdb"] {
            for op in [Operator::Gt, Operator::Lt, Operator::Gte, Operator::Lte] {
                assert!(!holds(field, op, json!(0), &doc), "{field} {op}");
            }
        }
    }

    #[test]
    fn eq_and_neq() {
        let doc = sample();
        let cases: &[(&str, Value, bool)] = &[
            ("abuseipdb.abuseConfidenceScore", json!(92), true),
            ("abuseipdb.abuseConfidenceScore", json!(92.0), true),
            ("abuseipdb.abuseConfidenceScore", json!(91), false),
            ("abuseipdb.abuseConfidenceScore", json!("92"), false),
            ("vt.malicious", json!(7), false),
            ("vt.malicious", json!("7"), true),
            ("abuseipdb.countryCode", json!("NL"), true),
            ("abuseipdb.countryCode", json!("nl"), false),
            ("abuseipdb.isWhitelisted", json!(false), true),
            ("abuseipdb.isWhitelisted", json!(0), false),
            ("records.A", json!([{ "ttl": 300.0 }, { "ttl": 60 }]), true),
            ("records.A", json!([{ "ttl": 60 }, { "ttl": 300 }]), false),
            ("records.A[0]", json!({ "ttl": 300 }), true),
            ("records.A[0]", json!({ "ttl": 300, "x": 1 }), false),
            ("empty.o", json!({}), true),
            ("ports[*].port", json!(443), true),
            ("ports[*].port", json!(25), false),
        ];
        for (field, value, want) in cases {
            assert_eq!(holds(field, Operator::Eq, value.clone(), &doc), *want, "{field} eq {value}");
            // neq is the negation of eq wherever the field is present.
            assert_eq!(holds(field, Operator::Neq, value.clone(), &doc), !*want, "{field} neq {value}");
        }
        // Over a wildcard, neq needs every value to differ.
        assert!(!holds("ports[*].service", Operator::Neq, json!("ssh"), &doc));
        assert!(holds("ports[*].service", Operator::Neq, json!("telnet"), &doc));
    }

    #[test]
    fn large_integers_compare_exactly() {
        let doc = json!({ "id": 9_007_199_254_740_993_u64 });
        assert!(holds("id", Operator::Eq, json!(9_007_199_254_740_993_u64), &doc));
        assert!(!holds("id", Operator::Eq, json!(9_007_199_254_740_992_u64), &doc));
        assert!(holds("id", Operator::Eq, json!(9_007_199_254_740_992.0), &doc), "floats compare as f64");
        let doc = json!({ "n": -1 });
        assert!(!holds("n", Operator::Eq, json!(u64::MAX), &doc));
    }

    #[test]
    fn contains() {
        let doc = sample();
        let cases: &[(&str, Value, bool)] = &[
            ("registrar", json!("cloudflare"), true),
            ("registrar", json!("CLOUDFLARE, INC"), true),
            ("registrar", json!("inc.x"), false),
            ("registrar", json!(""), true),
            ("ports[0].service", json!("SS"), true),
            ("tags", json!("scanner"), true),
            ("tags", json!("scan"), false),
            ("tags", json!("TOR-EXIT"), true),
            ("tags", json!(443), true),
            ("tags", json!(443.0), true),
            ("tags", json!("443"), false),
            ("tags", json!(true), true),
            ("tags", json!(false), false),
            ("abuseipdb.abuseConfidenceScore", json!(9), false),
            ("abuseipdb", json!("NL"), false),
            ("vt.sci", json!(3), true),
            ("vt.sci", json!("E3"), true),
            ("vt.flag", json!(true), false),
            ("ports[*].service", json!("ALT"), true),
            ("ports[*].service", json!("ftp"), false),
        ];
        for (field, value, want) in cases {
            assert_eq!(holds(field, Operator::Contains, value.clone(), &doc), *want, "{field} contains {value}");
        }
        let doc = json!({ "s": "ΣΟΦΙΑ Straße", "a": ["ΟΔΟΣ"], "n": "status: true" });
        assert!(holds("s", Operator::Contains, json!("σοφ"), &doc));
        // Lower-casing is not case folding: ß does not become ss.
        assert!(!holds("s", Operator::Contains, json!("STRASSE"), &doc));
        assert!(holds("s", Operator::Contains, json!("STRAßE"), &doc));
        assert!(holds("a", Operator::Contains, json!("οδοσ"), &doc));
        assert!(holds("a", Operator::Contains, json!("ΟΔΟΣ"), &doc));
        assert!(holds("n", Operator::Contains, json!(true), &doc));
    }

    #[test]
    fn exists_means_truthy() {
        let doc = sample();
        for (field, want) in [
            ("registrar", true),
            ("abuseipdb", true),
            ("tags", true),
            ("vt.flag", true),
            ("empty.zero", true),
            ("empty.s", false),
            ("empty.a", false),
            ("empty.o", false),
            ("empty.z", false),
            ("empty.zf", false),
            ("empty.n", false),
            ("empty.f", false),
            ("missing", false),
            ("ports[*].port", true),
            ("empty.a[*]", false),
        ] {
            assert_eq!(holds(field, Operator::Exists, Value::Null, &doc), want, "{field}");
        }
    }

    #[test]
    fn absent_fields_match_nothing_but_a_change() {
        let doc = sample();
        for (op, value) in [
            (Operator::Gt, json!(0)),
            (Operator::Lt, json!(0)),
            (Operator::Gte, json!(0)),
            (Operator::Lte, json!(0)),
            (Operator::Eq, json!(1)),
            (Operator::Neq, json!(1)),
            (Operator::Contains, json!("a")),
            (Operator::Exists, Value::Null),
            (Operator::Changed, Value::Null),
        ] {
            for field in ["missing", "ports.port", "ports[9].port", "records.MX[*].x"] {
                let c = compile(field, op, value.clone());
                assert_eq!(c.evaluate(&doc, None), None, "{field} {op}");
                assert_eq!(c.evaluate(&doc, Some(&doc)), None, "{field} {op}, absent both times");
            }
        }
        let was = json!({ "a": 1 });
        let now = json!({});
        let c = compile("a", Operator::Changed, Value::Null);
        let m = c.evaluate(&now, Some(&was)).expect("disappearing is a change");
        assert_eq!(m.message, "a changed (was: 1, now: absent)");
        assert_eq!(m.actual, Value::Null);
        let m = c.evaluate(&was, Some(&now)).expect("appearing is a change");
        assert_eq!(m.message, "a changed (was: absent, now: 1)");
        assert_eq!(m.actual, json!(1));
    }

    #[test]
    fn changed_across_three_reports() {
        let c = compile("nameServers", Operator::Changed, Value::Null);
        let first = json!({ "nameServers": ["a.test"] });
        let second = json!({ "nameServers": ["b.test"] });
        let third = json!({ "nameServers": ["b.test"], "other": 1 });
        assert_eq!(c.evaluate(&first, None), None, "no previous report");
        let m = c.evaluate(&second, Some(&first)).expect("changed");
        assert_eq!(m.message, r#"nameServers changed (was: ["a.test"], now: ["b.test"])"#);
        assert_eq!(m.actual, json!(["b.test"]));
        assert_eq!(c.evaluate(&third, Some(&second)), None, "same as before");

        // Numeric equality applies, and wildcard paths compare the whole list.
        assert_eq!(c.evaluate(&json!({ "nameServers": 1.0 }), Some(&json!({ "nameServers": 1 }))), None);
        let w = compile("ports[*].port", Operator::Changed, Value::Null);
        let was = json!({ "ports": [{ "port": 22 }, { "port": 80 }] });
        let same = json!({ "ports": [{ "port": 22, "x": 1 }, { "port": 80.0 }] });
        let more = json!({ "ports": [{ "port": 22 }, { "port": 80 }, { "port": 443 }] });
        assert_eq!(w.evaluate(&same, Some(&was)), None);
        let m = w.evaluate(&more, Some(&was)).expect("a port opened");
        assert_eq!(m.message, "ports[*].port changed (was: [22,80], now: [22,80,443])");
        assert_eq!(m.actual, json!([22, 80, 443]));
        let m = w.evaluate(&json!({}), Some(&was)).expect("all ports gone");
        assert_eq!(m.message, "ports[*].port changed (was: [22,80], now: [])");
        assert_eq!(m.actual, json!([]));
        assert_eq!(w.evaluate(&more, None), None);
    }

    #[test]
    fn messages() {
        let doc = json!({
            "abuseipdb": { "abuseConfidenceScore": 92 },
            "ports": [{ "port": 22 }, { "port": 80 }],
            "registrar": "Cloudflare, Inc.",
            "ssl": { "selfSigned": true },
            "score": "88.5"
        });
        assert_eq!(
            message("abuseipdb.abuseConfidenceScore", Operator::Gte, json!(75), &doc),
            "abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)"
        );
        assert_eq!(message("ports[*].port", Operator::Eq, json!(22), &doc), "ports[*].port = 22 (actual: [22])");
        assert_eq!(
            message("registrar", Operator::Contains, json!("cloudflare"), &doc),
            r#"registrar contains "cloudflare" (actual: "Cloudflare, Inc.")"#
        );
        assert_eq!(
            message("ssl.selfSigned", Operator::Exists, Value::Null, &doc),
            "ssl.selfSigned exists (actual: true)"
        );
        assert_eq!(message("ports[0].port", Operator::Gt, json!(1.5), &doc), "ports[0].port > 1.5 (actual: 22)");
        assert_eq!(message("ports[-1].port", Operator::Lt, json!(100), &doc), "ports[-1].port < 100 (actual: 80)");
        assert_eq!(message("ports[*].port", Operator::Lte, json!(80), &doc), "ports[*].port ≤ 80 (actual: [22,80])");
        assert_eq!(message("score", Operator::Gt, json!(50), &doc), r#"score > 50 (actual: "88.5")"#);
        assert_eq!(message("ports[*].port", Operator::Neq, json!(443), &doc), "ports[*].port ≠ 443 (actual: [22,80])");
        assert_eq!(
            message("ssl", Operator::Eq, json!({ "selfSigned": true }), &doc),
            r#"ssl = {"selfSigned":true} (actual: {"selfSigned":true})"#
        );

        let m = compile("ports[*].port", Operator::Gt, json!(50)).evaluate(&doc, None).expect("match");
        assert_eq!(m.actual, json!([80]), "only matching values are reported");
        let m = compile("ports[1]", Operator::Exists, Value::Null).evaluate(&doc, None).expect("match");
        assert_eq!(m.actual, json!({ "port": 80 }));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(500);
        let doc = json!({ "s": long, "u": "é".repeat(300) });
        let m = compile("s", Operator::Contains, json!("xx")).evaluate(&doc, None).expect("match");
        let rendered = format!("\"{}…", "x".repeat(198));
        assert_eq!(rendered.chars().count(), MAX_RENDERED_VALUE_LEN);
        assert_eq!(m.message, format!("s contains \"xx\" (actual: {rendered})"));
        assert_eq!(m.actual, json!(long), "the actual value itself is whole");
        let m = compile("u", Operator::Exists, Value::Null).evaluate(&doc, None).expect("match");
        assert_eq!(m.message, format!("u exists (actual: \"{}…)", "é".repeat(198)));
        // Past the byte budget, mid-character: still whole characters, still 200 of them.
        let doc = json!({ "v": "é".repeat(1000), "a": (0..1000).collect::<Vec<_>>() });
        let m = compile("v", Operator::Exists, Value::Null).evaluate(&doc, None).expect("match");
        assert_eq!(m.message, format!("v exists (actual: \"{}…)", "é".repeat(198)));
        let m = compile("a", Operator::Contains, json!(999)).evaluate(&doc, None).expect("match");
        let numbers: String = (0..1000).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        let cut: String = format!("[{numbers}").chars().take(199).collect();
        assert_eq!(m.message, format!("a contains 999 (actual: {cut}…)"));
        // Exactly at the limit nothing is cut.
        let exact = "y".repeat(198);
        let m = compile("s", Operator::Exists, Value::Null).evaluate(&json!({ "s": exact }), None).expect("match");
        assert_eq!(m.message, format!("s exists (actual: \"{exact}\")"));
        // Rule values in the message are cut too.
        let big = compile("s", Operator::Eq, json!("z".repeat(400)));
        let m = big.evaluate(&json!({ "s": "z".repeat(400) }), None).expect("match");
        assert_eq!(m.message.matches('…').count(), 2);
    }

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

    // ---- the index ---------------------------------------------------------

    #[test]
    fn index_buckets_by_tool_and_keeps_order() {
        let rules = vec![
            ("r1", "ip-reputation".to_owned(), compile("score", Operator::Gte, json!(75))),
            ("r2", "dns".to_owned(), compile("score", Operator::Gte, json!(75))),
            ("r3", "ip-reputation".to_owned(), compile("tags", Operator::Contains, json!("tor"))),
            ("r4", "ip-reputation".to_owned(), compile("score", Operator::Lt, json!(10))),
            ("r5", "ip-reputation".to_owned(), compile("score", Operator::Exists, Value::Null)),
            ("r6", "dns".to_owned(), compile("ns", Operator::Changed, Value::Null)),
        ];
        let index = RuleIndex::new(rules);
        assert_eq!(index.len(), 6);
        assert!(!index.is_empty());
        assert!(index.needs_previous("dns"));
        assert!(!index.needs_previous("ip-reputation"));
        assert!(!index.needs_previous("whois"));

        let doc = json!({ "score": 80, "tags": ["TOR"] });
        let keys: Vec<&str> = index.evaluate("ip-reputation", &doc, None).into_iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["r1", "r3", "r5"]);
        let found = index.evaluate("dns", &doc, Some(&json!({ "score": 80, "ns": "x" })));
        let keys: Vec<&str> = found.iter().map(|(k, _)| **k).collect();
        assert_eq!(keys, ["r2", "r6"]);
        assert_eq!(found[1].1.message, "ns changed (was: \"x\", now: absent)");
        assert!(index.evaluate("whois", &doc, None).is_empty());

        let empty: RuleIndex<u32> = RuleIndex::new(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert!(RuleIndex::<u32>::default().evaluate("dns", &doc, None).is_empty());
    }

    /// Evaluates `rules` (all for one tool) through an index and one by one,
    /// asserts both agree, and returns the keys that matched.
    fn index_matches(rules: &[(&str, Operator, Value)], doc: &Value, previous: Option<&Value>) -> Vec<usize> {
        let compiled: Vec<(usize, String, CompiledCondition)> = rules
            .iter()
            .enumerate()
            .map(|(i, (field, op, value))| (i, "t".to_owned(), compile(field, *op, value.clone())))
            .collect();
        let index = RuleIndex::new(compiled.clone());
        let got: Vec<(usize, Match)> = index.evaluate("t", doc, previous).into_iter().map(|(k, m)| (*k, m)).collect();
        let want: Vec<(usize, Match)> =
            compiled.iter().filter_map(|(k, _, c)| c.evaluate(doc, previous).map(|m| (*k, m))).collect();
        assert_eq!(got, want);
        got.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn index_edge_cases() {
        let doc = json!({
            "ports": [443, 80, 443, 0],
            "flags": [false, 0, "", true],
            "zero": -0.0,
            "score": 92,
            "big": 9_007_199_254_740_992_u64,
            "names": ["a", "A"]
        });
        // Equal values under [*] report a rule once.
        assert_eq!(index_matches(&[("ports[*]", Operator::Eq, json!(443))], &doc, None), [0]);
        assert_eq!(index_matches(&[("names[*]", Operator::Contains, json!("a"))], &doc, None), [0]);
        // exists looks past falsy values.
        assert_eq!(index_matches(&[("flags[*]", Operator::Exists, Value::Null)], &doc, None), [0]);
        assert_eq!(index_matches(&[("flags[0]", Operator::Exists, Value::Null)], &doc, None), Vec::<usize>::new());
        // Numbers meet numerically, 0 meets -0, and integers that round to the same float do not.
        let rules = [
            ("zero", Operator::Eq, json!(0)),
            ("ports[*]", Operator::Eq, json!(-0.0)),
            ("score", Operator::Eq, json!(92.0)),
            ("big", Operator::Eq, json!(9_007_199_254_740_993_u64)),
            ("big", Operator::Eq, json!(9_007_199_254_740_992_u64)),
            ("score", Operator::Eq, json!("92")),
        ];
        assert_eq!(index_matches(&rules, &doc, None), [0, 1, 2, 4]);
        // Thresholds at, below and above the smallest and largest values.
        let mut rules = Vec::new();
        for t in [-1, 0, 1, 80, 443, 444] {
            for op in [Operator::Gt, Operator::Gte, Operator::Lt, Operator::Lte] {
                rules.push(("ports[*]", op, json!(t)));
            }
        }
        let got = index_matches(&rules, &doc, None);
        let want: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, (_, op, t))| {
                let t = t.as_f64().expect("number");
                [443.0, 80.0, 443.0, 0.0].iter().any(|x| match op {
                    Operator::Gt => *x > t,
                    Operator::Gte => *x >= t,
                    Operator::Lt => *x < t,
                    _ => *x <= t,
                })
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 18, "{got:?}");
        // Fractions, and numeric strings, at and between the thresholds.
        let fractions = json!({ "x": [2.5, "0.5", "n/a"] });
        let mut rules = Vec::new();
        for t in [0.0, 0.5, 0.6, 0.75, 2.0, 2.25, 2.5, 3.0] {
            for op in [Operator::Gt, Operator::Gte, Operator::Lt, Operator::Lte] {
                rules.push(("x[*]", op, json!(t)));
            }
        }
        let got = index_matches(&rules, &fractions, None);
        let want: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, (_, op, t))| {
                let t = t.as_f64().expect("number");
                [2.5, 0.5].iter().any(|x| match op {
                    Operator::Gt => *x > t,
                    Operator::Gte => *x >= t,
                    Operator::Lt => *x < t,
                    _ => *x <= t,
                })
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, want);
        // changed is decided per group, for every changed rule in it.
        let was = json!({ "score": 91 });
        let rules = [
            ("score", Operator::Changed, Value::Null),
            ("score", Operator::Gt, json!(50)),
            ("score", Operator::Changed, Value::Null),
        ];
        assert_eq!(index_matches(&rules, &doc, Some(&was)), [0, 1, 2]);
        assert_eq!(index_matches(&rules, &doc, Some(&doc)), [1]);
        assert_eq!(index_matches(&rules, &doc, None), [1]);
    }

    const TOOLS: [&str; 3] = ["dns", "ssl", "whois"];

    /// Few distinct scalars, so that rule values and document values often
    /// meet (equal, numerically equal, equal but for case, or `0` and `-0`).
    fn arb_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1i64..3).prop_map(|n| json!(n)),
            prop_oneof![Just(-0.0), Just(1.0), Just(2.5)].prop_map(|f: f64| json!(f)),
            prop_oneof![Just("a"), Just("A"), Just("ab"), Just("2"), Just("")].prop_map(|s| json!(s)),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        arb_leaf().prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("c")], inner, 1..4)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    /// A result: an object whose keys paths start with.
    fn arb_doc() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("c")], arb_json(), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    fn arb_path() -> impl Strategy<Value = String> {
        let key = prop_oneof![Just("a"), Just("b"), Just("c")];
        let suffix = prop_oneof![4 => Just(""), 1 => Just("[0]"), 1 => Just("[1]"), 1 => Just("[-1]"), 3 => Just("[*]"), 1 => Just("[*][0]")];
        prop::collection::vec((key, suffix), 1..3)
            .prop_map(|segments| segments.iter().map(|(k, s)| format!("{k}{s}")).collect::<Vec<_>>().join("."))
    }

    /// Conditions that always compile: the value suits the operator.
    fn arb_condition() -> impl Strategy<Value = Condition> {
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

    proptest! {
        #[test]
        fn index_agrees_with_rules_checked_one_by_one(
            rules in prop::collection::vec((0..TOOLS.len(), arb_condition()), 0..24),
            tool in 0..TOOLS.len(),
            current in arb_doc(),
            previous in prop::option::of(arb_doc()),
        ) {
            let compiled: Vec<(usize, String, CompiledCondition)> = rules
                .iter()
                .enumerate()
                .map(|(i, (t, c))| (i, TOOLS[*t].to_owned(), c.compile().expect("generated conditions compile")))
                .collect();
            let index = RuleIndex::new(compiled.clone());
            prop_assert_eq!(index.len(), compiled.len());
            let got: Vec<(usize, Match)> =
                index.evaluate(TOOLS[tool], &current, previous.as_ref()).into_iter().map(|(k, m)| (*k, m)).collect();
            let want: Vec<(usize, Match)> = compiled
                .iter()
                .filter(|(_, t, _)| t == TOOLS[tool])
                .filter_map(|(k, _, c)| c.evaluate(&current, previous.as_ref()).map(|m| (*k, m)))
                .collect();
            prop_assert_eq!(got, want);
            let needs = compiled.iter().any(|(_, t, c)| t == TOOLS[tool] && c.operator() == Operator::Changed);
            prop_assert_eq!(index.needs_previous(TOOLS[tool]), needs);
        }

        #[test]
        fn operators_obey_their_laws(condition in arb_condition(), doc in arb_doc(), other in arb_doc()) {
            let compiled = condition.compile().expect("generated conditions compile");
            let values = compiled.path().resolve(&doc);
            let matched = compiled.evaluate(&doc, None);
            // Absent fields never match without a previous report.
            if values.is_empty() {
                prop_assert_eq!(&matched, &None);
            }
            match condition.operator {
                Operator::Neq => {
                    let eq = Condition { operator: Operator::Eq, ..condition.clone() }.compile().expect("compiles");
                    prop_assert_eq!(matched.is_some(), !values.is_empty() && eq.evaluate(&doc, None).is_none());
                }
                Operator::Changed => {
                    prop_assert_eq!(&matched, &None);
                    prop_assert_eq!(compiled.evaluate(&doc, Some(&doc)), None);
                    let back = compiled.evaluate(&other, Some(&doc)).is_some();
                    prop_assert_eq!(compiled.evaluate(&doc, Some(&other)).is_some(), back, "change is symmetric");
                }
                Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => {
                    let t = condition.value.as_ref().and_then(Value::as_f64).expect("number");
                    let numbers: Vec<f64> = values.iter().filter_map(|v| match v {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse::<f64>().ok().filter(|_| s.trim() == s.as_str()),
                        _ => None,
                    }).collect();
                    let want = numbers.iter().any(|x| match condition.operator {
                        Operator::Gt => *x > t,
                        Operator::Lt => *x < t,
                        Operator::Gte => *x >= t,
                        _ => *x <= t,
                    });
                    prop_assert_eq!(matched.is_some(), want);
                }
                _ => {}
            }
            if let Some(m) = &matched {
                let prefix = format!("{} {}", compiled.path(), condition.operator.symbol());
                prop_assert!(m.message.starts_with(&prefix), "{} does not start with {}", m.message, prefix);
                if compiled.path().has_wildcard() {
                    prop_assert!(m.actual.is_array());
                }
            }
        }

        #[test]
        fn paths_round_trip_through_display(p in arb_path()) {
            let parsed: FieldPath = p.parse().expect("generated paths parse");
            prop_assert_eq!(parsed.to_string(), p.clone());
            prop_assert_eq!(p.parse::<FieldPath>().ok(), Some(parsed));
        }

        #[test]
        fn path_parser_never_panics(s in "[a-c.\\[\\]*0-9 -]{0,24}") {
            if let Err(e) = s.parse::<FieldPath>() {
                prop_assert_eq!(e.field, "condition.field");
                prop_assert!(e.message.contains(" is not a valid field path: "));
            }
        }
    }
}
