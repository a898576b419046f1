//! The migration trees, one per engine, embedded in the binary.

pub(crate) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_reports_jobs.sql")),
    (3, include_str!("../migrations/sqlite/0003_monitoring_alerts.sql")),
    (4, include_str!("../migrations/sqlite/0004_limits_hawk.sql")),
    (5, include_str!("../migrations/sqlite/0005_dismissals.sql")),
    (6, include_str!("../migrations/sqlite/0006_agents.sql")),
    (7, include_str!("../migrations/sqlite/0007_vulnerabilities.sql")),
];

pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_reports_jobs.sql")),
    (3, include_str!("../migrations/postgres/0003_monitoring_alerts.sql")),
    (4, include_str!("../migrations/postgres/0004_limits_hawk.sql")),
    (5, include_str!("../migrations/postgres/0005_dismissals.sql")),
    (6, include_str!("../migrations/postgres/0006_agents.sql")),
    (7, include_str!("../migrations/postgres/0007_vulnerabilities.sql")),
];
