//! [`RuleIndex`]: all compiled rules of one organisation, arranged so that
//! checking a report against thousands of them stays cheap.
//!
//! This file exists because the index is an optimisation with its own
//! invariants (bucketing by tool and path, sorted thresholds, `eq` lookups)
//! that must never change an outcome; its tests compare it with checking the
//! rules one by one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::Value;

use super::evaluate::{Test, numeric, same_values, truthy};
use super::{CompiledCondition, FieldPath, Match};

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

/// A hash key under which numbers that [`number_eq`](super::evaluate::number_eq) may find equal meet:
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
    use crate::rules::Operator;
    use crate::rules::testing::*;
    use proptest::prelude::*;
    use serde_json::json;

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
    }
}
