//! Assets: the things an organization monitors. Values arrive parsed and normalised by the domain crate.

use tlink_domain::{AssetId, AssetType, AssetValue, HashKind, OrgId};

use crate::db::{Row, Stmt, now_millis};
use crate::{Page, PageQuery, ReportRow, Result, Store, params};

/// Rows per transaction in [`Store::create_assets_bulk`].
const BULK_CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct AssetRow {
    pub id: AssetId,
    pub org_id: OrgId,
    pub kind: AssetType,
    pub value: String,
    pub hash_kind: Option<HashKind>,
    pub label: Option<String>,
    pub is_monitored: bool,
    /// The asset's own scan interval; `None` uses the org's default.
    pub monitor_interval_minutes: Option<i64>,
    /// When the scheduler queues the next scan (`None` when not monitored).
    pub next_scan_at: Option<i64>,
    /// When a scan of this asset last completed.
    pub last_scanned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewAsset {
    pub value: AssetValue,
    pub label: Option<String>,
    pub is_monitored: bool,
    pub monitor_interval_minutes: Option<i64>,
    /// The first scheduled scan (set by the caller when `is_monitored`).
    pub next_scan_at: Option<i64>,
}

/// Changes to an asset; `None` leaves a field as it is, `label: Some(None)` clears the label.
#[derive(Debug, Clone, Default)]
pub struct AssetPatch {
    pub label: Option<Option<String>>,
    pub is_monitored: Option<bool>,
    pub monitor_interval_minutes: Option<Option<i64>>,
    /// Set by the caller from the monitoring change: `Some(None)` stops scheduling.
    pub next_scan_at: Option<Option<i64>>,
}

/// List filters beyond paging.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub kind: Option<AssetType>,
    pub is_monitored: Option<bool>,
    /// Case-insensitive substring of the value or the label.
    pub q: Option<String>,
}

/// The columns [`AssetRow::from_row`] reads, in its order.
macro_rules! asset_columns {
    () => {
        "id, org_id, type, value, hash_kind, label, is_monitored, created_at, updated_at, \
         monitor_interval_minutes, next_scan_at, last_scanned_at"
    };
}

/// A NULL for each of [`asset_columns`], in a row that carries no asset.
macro_rules! asset_nulls {
    () => {
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    };
}

/// A NULL for each of [`report_columns`](crate::reports::report_columns), in a row that carries no report.
macro_rules! report_nulls {
    () => {
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    };
}

/// The number of columns in a column list (names, no expressions with commas).
const fn column_count(list: &str) -> usize {
    let bytes = list.as_bytes();
    let (mut i, mut n) = (0, 1);
    while i < bytes.len() {
        if bytes[i] == b',' {
            n += 1;
        }
        i += 1;
    }
    n
}

impl AssetRow {
    fn from_row(r: &Row) -> Result<AssetRow> {
        Ok(AssetRow {
            id: AssetId::from_trusted(r.text(0)?),
            org_id: OrgId::from_trusted(r.text(1)?),
            kind: r.text(2)?.parse().map_err(|_| crate::DbError::Decode { index: 2, expected: "asset type" })?,
            value: r.text(3)?,
            hash_kind: r.opt_text(4)?.and_then(|s| s.parse().ok()),
            label: r.opt_text(5)?,
            is_monitored: r.bool(6)?,
            created_at: r.i64(7)?,
            updated_at: r.i64(8)?,
            monitor_interval_minutes: r.opt_i64(9)?,
            next_scan_at: r.opt_i64(10)?,
            last_scanned_at: r.opt_i64(11)?,
        })
    }
}

/// Escapes LIKE metacharacters so user text matches literally (with `ESCAPE '\'`).
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Creates an asset. The same (type, normalised value) twice in one org is a [`crate::DbError::Unique`].
    pub async fn create_asset(&self, org: &OrgId, asset: NewAsset) -> Result<AssetRow> {
        let id = AssetId::new();
        let now = now_millis();
        let hash_kind = asset.value.hash_kind().map(|h| h.as_str());
        self.db
            .execute(
                "INSERT INTO assets (id, org_id, type, value, hash_kind, label, is_monitored, created_at, updated_at, \
                 monitor_interval_minutes, next_scan_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
                &params![
                    id.as_str(),
                    org.as_str(),
                    asset.value.kind().as_str(),
                    asset.value.value(),
                    hash_kind,
                    asset.label.clone(),
                    asset.is_monitored,
                    now,
                    asset.monitor_interval_minutes,
                    asset.next_scan_at
                ],
            )
            .await?;
        Ok(AssetRow {
            id,
            org_id: org.clone(),
            kind: asset.value.kind(),
            value: asset.value.value().to_string(),
            hash_kind: asset.value.hash_kind(),
            label: asset.label,
            is_monitored: asset.is_monitored,
            monitor_interval_minutes: asset.monitor_interval_minutes,
            next_scan_at: asset.next_scan_at,
            last_scanned_at: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Inserts many assets into one org, for imports and benchmark seeding, and returns how many were
    /// inserted. Rows go in with the same columns as [`Store::create_asset`], 1,000 per transaction;
    /// all rows of a chunk share one `created_at` (their UUIDv7 ids order them). A duplicate
    /// fails its chunk with [`crate::DbError::Unique`]; chunks committed before it stay.
    pub async fn create_assets_bulk(&self, org: &OrgId, assets: Vec<NewAsset>) -> Result<u64> {
        const SQL: &str = "INSERT INTO assets \
            (id, org_id, type, value, hash_kind, label, is_monitored, created_at, updated_at, \
            monitor_interval_minutes, next_scan_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)";
        let mut inserted = 0;
        let mut rest = assets.into_iter().peekable();
        while rest.peek().is_some() {
            let now = now_millis();
            let stmts = rest
                .by_ref()
                .take(BULK_CHUNK)
                .map(|a| {
                    let p = params![
                        AssetId::new().as_str(),
                        org.as_str(),
                        a.value.kind().as_str(),
                        a.value.value(),
                        a.value.hash_kind().map(|h| h.as_str()),
                        a.label,
                        a.is_monitored,
                        now,
                        a.monitor_interval_minutes,
                        a.next_scan_at
                    ];
                    Stmt::new(SQL, p)
                })
                .collect();
            inserted += self.db.transaction(stmts).await?.iter().sum::<u64>();
        }
        Ok(inserted)
    }

    pub async fn get_asset(&self, org: &OrgId, id: &AssetId) -> Result<Option<AssetRow>> {
        const SQL: &str = concat!("SELECT ", asset_columns!(), " FROM assets WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(AssetRow::from_row).transpose()
    }

    /// An asset and the latest COMPLETED report of each tool on it (by tool), read by one statement: one
    /// snapshot, one read transaction on SQLite and one round trip on PostgreSQL. `None` when the
    /// organization has no such asset.
    ///
    /// The statement is a flat `UNION ALL`: the asset's row (NULLs in the report's columns), then a row
    /// per latest report (NULLs in the asset's columns). A join of the asset to the union instead made
    /// SQLite materialise the union into a temporary table on every read.
    pub async fn asset_detail(&self, org: &OrgId, id: &AssetId) -> Result<Option<(AssetRow, Vec<ReportRow>)>> {
        const SQL: &str = concat!(
            "SELECT ",
            asset_columns!(),
            ", ",
            report_nulls!(),
            " FROM assets WHERE org_id = $1 AND id = $2 UNION ALL ",
            crate::reports::latest_reports_union!(select asset_nulls!())
        );
        const ASSET_COLUMNS: usize = column_count(asset_columns!());
        let rows = self.db.query(SQL, &params![org.as_str(), id.as_str()]).await?;
        let mut asset = None;
        let mut latest = Vec::with_capacity(rows.len());
        for mut row in rows {
            let report = row.split_off(ASSET_COLUMNS);
            // The asset's row is the one whose id (its first column) is set.
            if row.values().first().is_some_and(|v| !matches!(v, crate::db::Value::Null)) {
                asset = Some(AssetRow::from_row(&row)?);
            } else {
                latest.push(ReportRow::from_row(&report)?);
            }
        }
        latest.sort_by_key(|r| r.tool.as_str());
        Ok(asset.map(|a| (a, latest)))
    }

    /// The org's assets, newest first.
    pub async fn list_assets(&self, org: &OrgId, filter: &AssetFilter, page: &PageQuery) -> Result<Page<AssetRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 AND created_at < $5 \
              AND (CAST($7 AS TEXT) IS NULL OR type = $7) AND (CAST($8 AS BOOLEAN) IS NULL OR is_monitored = $8) \
              AND (CAST($9 AS TEXT) IS NULL OR LOWER(value) LIKE $9 ESCAPE '\\' \
              OR LOWER(COALESCE(label, '')) LIKE $9 ESCAPE '\\') \
              ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(filter.kind.map(|k| k.as_str()).into());
        p.push(filter.is_monitored.into());
        p.push(filter.q.as_deref().map(like_pattern).into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(AssetRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |a| (a.created_at, a.id.as_str().to_string())))
    }

    /// Applies a patch; `None` if the org has no such asset.
    pub async fn update_asset(&self, org: &OrgId, id: &AssetId, patch: AssetPatch) -> Result<Option<AssetRow>> {
        const SQL: &str = concat!(
            "UPDATE assets SET \
             label = CASE WHEN $3 THEN $4 ELSE label END, \
             is_monitored = COALESCE($5, is_monitored), updated_at = $6, \
             monitor_interval_minutes = CASE WHEN $7 THEN $8 ELSE monitor_interval_minutes END, \
             next_scan_at = CASE WHEN $9 THEN $10 ELSE next_scan_at END \
             WHERE org_id = $1 AND id = $2 RETURNING ",
            asset_columns!()
        );
        let (set_label, label) = match patch.label {
            Some(l) => (true, l),
            None => (false, None),
        };
        let (set_interval, interval) = match patch.monitor_interval_minutes {
            Some(i) => (true, i),
            None => (false, None),
        };
        let (set_next, next) = match patch.next_scan_at {
            Some(n) => (true, n),
            None => (false, None),
        };
        let p = params![
            org.as_str(),
            id.as_str(),
            set_label,
            label,
            patch.is_monitored,
            now_millis(),
            set_interval,
            interval,
            set_next,
            next
        ];
        self.db.query_opt(SQL, &p).await?.as_ref().map(AssetRow::from_row).transpose()
    }

    pub async fn delete_asset(&self, org: &OrgId, id: &AssetId) -> Result<bool> {
        let n = self
            .db
            .execute("DELETE FROM assets WHERE org_id = $1 AND id = $2", &params![org.as_str(), id.as_str()])
            .await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::column_count;

    /// The asset read's rows line up only if each side's NULLs match the other side's columns.
    #[test]
    fn the_nulls_match_the_columns_they_stand_for() {
        assert_eq!(asset_nulls!().matches("NULL").count(), column_count(asset_columns!()));
        assert_eq!(report_nulls!().matches("NULL").count(), column_count(crate::reports::report_columns!("result")));
    }
}
