//! Field paths: the grammar of `abuseipdb.abuseConfidenceScore` and
//! `ports[*].port`, and walking a JSON result along one.
//!
//! This file exists because a path is parsed once, when a rule is compiled,
//! and walked for every report; both halves are pure and are tested here on
//! their own (every accepted form, every error position, and round trips
//! through the canonical spelling).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::render::render;
use super::{FIELD, MAX_FIELD_KEY_LEN, MAX_FIELD_PATH_LEN, MAX_FIELD_PATH_SEGMENTS, RuleError};

/// A parsed field path; see the [module documentation](super) for the syntax.
///
/// Parsed once, at compile time, so that evaluation only walks the JSON.
/// Displays in canonical form (indices without leading zeros), which parses
/// back to an equal path.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    steps: Box<[Step]>,
    pub(super) wildcard: bool,
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
    pub(super) fn any<'a>(&self, v: &'a Value, mut f: impl FnMut(&'a Value) -> bool) -> bool {
        any_reached(&self.steps, v, &mut f)
    }

    /// Whether the path contains `[*]` and so may reach many values.
    #[must_use]
    pub fn has_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The one value a path without `[*]` reaches. A path with `[*]` reaches
    /// nothing through this method.
    pub(super) fn resolve_one<'a>(&self, mut v: &'a Value) -> Option<&'a Value> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Operator;
    use crate::rules::testing::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn path(s: &str) -> FieldPath {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

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

    proptest! {
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
