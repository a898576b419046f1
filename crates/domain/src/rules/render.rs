//! How values are written into match messages and error messages: compact
//! JSON, cut to [`MAX_RENDERED_VALUE_LEN`] characters ending in `…`.
//!
//! This file exists because every message of the rule language (a match, a
//! rejected path, a value of the wrong type) quotes user or provider data of
//! any size, and rendering must cost the same for a huge value as for a small
//! one.

use std::io;

use serde::Serialize;
use serde_json::Value;

use super::MAX_RENDERED_VALUE_LEN;

/// Compact JSON, cut to [`MAX_RENDERED_VALUE_LEN`] characters.
pub(super) fn render<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    render_into(&mut out, value);
    out
}

/// Appends `value` as compact JSON to `out`, cut to
/// [`MAX_RENDERED_VALUE_LEN`] characters ending in `…`. Serialisation stops
/// early, so rendering a huge value costs no more than a small one.
pub(super) fn render_into<T: Serialize + ?Sized>(out: &mut String, value: &T) {
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

pub(super) fn render_or_absent(v: Option<&&Value>) -> String {
    v.map_or_else(|| "absent".to_owned(), |v| render(*v))
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::*;
    use crate::rules::{MAX_RENDERED_VALUE_LEN, Operator};
    use serde_json::{Value, json};

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
}
