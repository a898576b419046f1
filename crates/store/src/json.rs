//! Decoding the JSON the store keeps in TEXT columns.
//!
//! Both engines store JSON as text (see [`crate::db`]). Text that no longer decodes is corrupt data: it is an
//! error that names the table, the row and the column ([`DbError::Corrupt`]), never an empty value.

use serde::de::DeserializeOwned;

use crate::DbError;

/// Decodes the JSON `text` of `table.column` in the row `id`; text that does not decode as `T` is a
/// [`DbError::Corrupt`].
pub fn decode_json<T: DeserializeOwned>(
    table: &'static str,
    id: &str,
    column: &'static str,
    text: &str,
) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|source| DbError::Corrupt { table, id: id.to_string(), column, source })
}

/// [`decode_json`] for a nullable column: NULL (`None`) is `None`; present text must decode.
pub fn decode_json_opt<T: DeserializeOwned>(
    table: &'static str,
    id: &str,
    column: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, DbError> {
    text.map(|t| decode_json(table, id, column, t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_valid_text() {
        let v: Vec<String> = decode_json("agents", "a1", "tags", r#"["x","y"]"#).unwrap();
        assert_eq!(v, ["x", "y"]);
        let none: Option<Vec<String>> = decode_json_opt("alert_rules", "r1", "asset_ids", None).unwrap();
        assert_eq!(none, None);
        let some: Option<serde_json::Value> = decode_json_opt("alerts", "a1", "actual", Some("92")).unwrap();
        assert_eq!(some, Some(serde_json::json!(92)));
    }

    #[test]
    fn corrupt_text_is_an_error_naming_table_row_and_column() {
        for text in ["{not json", "", r#"{"a":1}"#] {
            let err = decode_json::<Vec<String>>("alerts", "0190-abc", "rule", text).unwrap_err();
            let DbError::Corrupt { table, id, column, .. } = &err else { panic!("{err:?}") };
            assert_eq!((*table, id.as_str(), *column), ("alerts", "0190-abc", "rule"));
            let msg = err.to_string();
            assert!(msg.contains("alerts") && msg.contains("0190-abc") && msg.contains("rule"), "{msg}");
            assert!(std::error::Error::source(&err).is_some(), "the serde error is kept as the source");
        }
        let err = decode_json_opt::<serde_json::Value>("alert_rules", "r1", "value", Some("nope")).unwrap_err();
        assert!(matches!(err, DbError::Corrupt { column: "value", .. }), "{err:?}");
    }
}
