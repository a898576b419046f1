//! An organization at a glance, for the dashboard's overview: assets by type, alerts per day, and the
//! monitored assets that need attention.

use tlink_domain::{AssetId, AssetType, OrgId};

use crate::db::Row;
use crate::{DbError, Result, Store, params};

/// One day, in whole days since the Unix epoch (UTC).
pub const DAY_MS: i64 = 86_400_000;

/// Assets of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    pub kind: AssetType,
    pub total: i64,
    pub monitored: i64,
}

/// A monitored asset whose scans fail or lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionAsset {
    pub id: AssetId,
    pub kind: AssetType,
    pub value: String,
    pub label: Option<String>,
    pub last_scanned_at: Option<i64>,
    /// The latest report on the asset failed.
    pub failing: bool,
    /// No completed scan for more than two of its intervals (or ever, a day after it was added).
    pub stale: bool,
}

impl Store {
    /// The organization's assets counted by type (types with none left out).
    pub async fn asset_type_counts(&self, org: &OrgId) -> Result<Vec<TypeCount>> {
        const SQL: &str = "SELECT type, COUNT(*), SUM(CASE WHEN is_monitored THEN 1 ELSE 0 END) FROM assets \
            WHERE org_id = $1 GROUP BY type ORDER BY type";
        let rows = self.db.query(SQL, &params![org.as_str()]).await?;
        rows.iter()
            .map(|r| Ok(TypeCount { kind: asset_type(r, 0)?, total: r.i64(1)?, monitored: r.opt_i64(2)?.unwrap_or(0) }))
            .collect()
    }

    /// Alerts created per UTC day since `from` (unix ms): `(day since the epoch, count)`, days without
    /// alerts left out.
    pub async fn alerts_per_day(&self, org: &OrgId, from: i64) -> Result<Vec<(i64, i64)>> {
        const SQL: &str = "SELECT created_at / 86400000 AS day, COUNT(*) FROM alerts \
            WHERE org_id = $1 AND created_at >= $2 GROUP BY created_at / 86400000 ORDER BY day";
        let rows = self.db.query(SQL, &params![org.as_str(), from]).await?;
        rows.iter().map(|r| Ok((r.i64(0)?, r.i64(1)?))).collect()
    }

    /// Up to `limit` monitored assets whose latest report failed or whose scans lag, at `now`.
    pub async fn assets_needing_attention(&self, org: &OrgId, now: i64, limit: u32) -> Result<Vec<AttentionAsset>> {
        // An asset's interval is its own, else its organization's, else a day.
        const SQL: &str = "SELECT a.id, a.type, a.value, a.label, a.last_scanned_at, \
              (SELECT r.status FROM reports r WHERE r.asset_id = a.id ORDER BY r.created_at DESC, r.id DESC LIMIT 1), \
              CASE WHEN COALESCE(a.last_scanned_at, a.created_at) \
                < CAST($2 AS BIGINT) - 2 * 60000 * COALESCE(a.monitor_interval_minutes, o.monitor_interval_minutes, 1440) \
                THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END \
            FROM assets a JOIN orgs o ON o.id = a.org_id \
            WHERE a.org_id = $1 AND a.is_monitored \
            ORDER BY a.last_scanned_at NULLS FIRST, a.id";
        let rows = self.db.query(SQL, &params![org.as_str(), now]).await?;
        let mut out = Vec::new();
        for r in &rows {
            let failing = r.opt_text(5)?.as_deref() == Some("FAILED");
            let stale = r.i64(6)? == 1;
            if failing || stale {
                out.push(AttentionAsset {
                    id: AssetId::from_trusted(r.text(0)?),
                    kind: asset_type(r, 1)?,
                    value: r.text(2)?,
                    label: r.opt_text(3)?,
                    last_scanned_at: r.opt_i64(4)?,
                    failing,
                    stale,
                });
                if out.len() >= limit as usize {
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn asset_type(r: &Row, i: usize) -> Result<AssetType> {
    r.text(i)?.parse().map_err(|_| DbError::Decode { index: i, expected: "asset type" })
}
