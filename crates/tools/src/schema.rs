//! Result schemas as self-contained JSON Schema documents, generated from the result types themselves so
//! that they cannot drift from what the tools return.

use utoipa::ToSchema;

/// `T`'s schema with every type it refers to under `$defs`.
pub(crate) fn of<T: ToSchema>() -> serde_json::Value {
    let mut defs = Vec::new();
    T::schemas(&mut defs);
    let mut doc = serde_json::to_value(T::schema()).unwrap_or_default();
    let defs: serde_json::Map<String, serde_json::Value> =
        defs.into_iter().map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default())).collect();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
        obj.insert("title".into(), T::name().into_owned().into());
        if !defs.is_empty() {
            obj.insert("$defs".into(), serde_json::Value::Object(defs));
        }
    }
    rewrite_refs(&mut doc);
    doc
}

fn rewrite_refs(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref" {
                    if let serde_json::Value::String(s) = child
                        && let Some(rest) = s.strip_prefix("#/components/schemas/")
                    {
                        *s = format!("#/$defs/{rest}");
                    }
                } else {
                    rewrite_refs(child);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}
