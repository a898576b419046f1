//! Compiled conditions and what checking one means: the operators'
//! comparisons (numeric, structural equality, `contains` ignoring case,
//! truthiness, `changed`), and the [`Match`] a holding condition gives.
//!
//! This file exists so that the semantics tabulated in the module
//! documentation of the rules live in one place that both
//! [`CompiledCondition::evaluate`] and the index (`index.rs`) call, so the
//! index can change what evaluation costs but never what it decides.

use serde_json::Value;

use super::render::{render, render_into, render_or_absent};
use super::{FieldPath, Operator};

/// A [`Condition`](super::Condition) that passed
/// [`Condition::compile`](super::Condition::compile): the path parsed, the
/// value converted to what the operator compares with, and the message prefix
/// rendered.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    pub(super) path: FieldPath,
    pub(super) test: Test,
    /// `"{path} {symbol}"`, then `" {value}"` for operators with a value.
    pub(super) label: Box<str>,
}

/// The operator together with its pre-converted value.
#[derive(Debug, Clone)]
pub(super) enum Test {
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
pub(super) struct Needle {
    /// The value's text, lower-cased.
    pub(super) lower: Box<str>,
    /// The value itself (a string, number or boolean), for array elements.
    pub(super) value: Value,
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
    pub(super) fn check(&self, now: &[&Value], was: Option<&[&Value]>) -> Option<Match> {
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
pub(super) fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

pub(super) fn truthy(v: &Value) -> bool {
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
pub(super) fn same_values(a: &[&Value], b: &[&Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
}

/// Integers compare exactly (so large ids do not collide through rounding);
/// anything involving a float compares as `f64`.
pub(super) fn number_eq(x: &serde_json::Number, y: &serde_json::Number) -> bool {
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
pub(super) fn lower(s: &str) -> Box<str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Condition;
    use crate::rules::testing::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn holds(field: &str, operator: Operator, value: Value, doc: &Value) -> bool {
        compile(field, operator, value).evaluate(doc, None).is_some()
    }

    fn message(field: &str, operator: Operator, value: Value, doc: &Value) -> String {
        compile(field, operator, value).evaluate(doc, None).expect("should match").message
    }

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

    proptest! {
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
    }
}
