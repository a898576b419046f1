//! The migration trees, one per engine, embedded in the binary, and the table that records which ran.

/// The table each engine records applied migrations in, created before the first one runs.
pub(crate) const SCHEMA_MIGRATIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

pub(crate) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_reports_jobs.sql")),
    (3, include_str!("../migrations/sqlite/0003_monitoring_alerts.sql")),
    (4, include_str!("../migrations/sqlite/0004_limits_hawk.sql")),
    (5, include_str!("../migrations/sqlite/0005_dismissals.sql")),
    (6, include_str!("../migrations/sqlite/0006_agents.sql")),
    (7, include_str!("../migrations/sqlite/0007_vulnerabilities.sql")),
    (8, include_str!("../migrations/sqlite/0008_operators.sql")),
    (9, include_str!("../migrations/sqlite/0009_audit.sql")),
    (10, include_str!("../migrations/sqlite/0010_deliveries_by_rule.sql")),
    (11, include_str!("../migrations/sqlite/0011_reports_latest.sql")),
];

pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_reports_jobs.sql")),
    (3, include_str!("../migrations/postgres/0003_monitoring_alerts.sql")),
    (4, include_str!("../migrations/postgres/0004_limits_hawk.sql")),
    (5, include_str!("../migrations/postgres/0005_dismissals.sql")),
    (6, include_str!("../migrations/postgres/0006_agents.sql")),
    (7, include_str!("../migrations/postgres/0007_vulnerabilities.sql")),
    (8, include_str!("../migrations/postgres/0008_notify.sql")),
    (9, include_str!("../migrations/postgres/0009_operators.sql")),
    (10, include_str!("../migrations/postgres/0010_audit.sql")),
    (11, include_str!("../migrations/postgres/0011_deliveries_by_rule.sql")),
    (12, include_str!("../migrations/postgres/0012_reports_latest.sql")),
];

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use crate::params;

    /// Each tree's versions strictly increase: a version listed twice would be applied once and its twin
    /// skipped for good on every database.
    #[test]
    fn versions_strictly_increase() {
        for tree in [super::SQLITE, super::POSTGRES] {
            for pair in tree.windows(2) {
                assert!(pair[0].0 < pair[1].0, "version {} follows {}", pair[1].0, pair[0].0);
            }
        }
    }

    /// Migration 7 rebuilds `alerts` on SQLite: an existing alert keeps its row, its status history and its
    /// deliveries, and the foreign keys still cascade afterwards.
    #[tokio::test]
    async fn the_sqlite_alerts_rebuild_keeps_rows_and_keys() {
        let dir = std::env::temp_dir().join(format!("tlink-mig-{}-{}", std::process::id(), crate::now_millis()));
        std::fs::create_dir_all(&dir).expect("dir");
        let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display()), 1).await.expect("open");
        db.migrate(&super::SQLITE[..6]).await.expect("up to 6");
        let seed = [
            "INSERT INTO orgs (id, name, plan, created_at) VALUES ('o1', 'Org', 'FREE', 1)",
            "INSERT INTO assets (id, org_id, type, value, is_monitored, created_at, updated_at) \
             VALUES ('a1', 'o1', 'IP', '192.0.2.1', 0, 1, 1)",
            "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, \
             rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
             VALUES ('al1', 'o1', 'r1', 'a1', 'rep', 'rep', 'HIGH', 'OPEN', 'm', '{}', 1, 1, 1, 1, 1)",
            "INSERT INTO alert_events (id, alert_id, from_status, to_status, created_at) \
             VALUES ('e1', 'al1', 'OPEN', 'ACKNOWLEDGED', 2)",
            "INSERT INTO deliveries (id, org_id, alert_id, rule_id, channel, target, body, status, created_at, \
             updated_at) VALUES ('d1', 'o1', 'al1', 'r1', 'WEBHOOK', 'http://x', '{}', 'PENDING', 1, 1)",
        ];
        for sql in seed {
            db.execute(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let later: Vec<i64> = super::SQLITE[6..].iter().map(|(v, _)| *v).collect();
        assert_eq!(db.migrate(super::SQLITE).await.expect("7 and later"), later);
        let count = |sql: &'static str| {
            let db = db.clone();
            async move { db.query_opt(sql, &[]).await.expect("count").expect("row").i64(0).expect("int") }
        };
        assert_eq!(count("SELECT COUNT(*) FROM alerts WHERE asset_id = 'a1' AND agent_id IS NULL").await, 1);
        assert_eq!(count("SELECT COUNT(*) FROM alert_events").await, 1);
        assert_eq!(count("SELECT COUNT(*) FROM deliveries").await, 1);
        // Deleting the asset still cascades through the rebuilt table to its events and deliveries.
        db.execute("DELETE FROM assets WHERE id = $1", &params!["a1"]).await.expect("delete");
        assert_eq!(count("SELECT COUNT(*) FROM alerts").await, 0);
        assert_eq!(
            count("SELECT COUNT(*) FROM alert_events").await + count("SELECT COUNT(*) FROM deliveries").await,
            0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
