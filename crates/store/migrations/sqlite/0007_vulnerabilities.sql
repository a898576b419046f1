-- tlink: foreign_keys off
-- Vulnerabilities: an OSV advisory database shared by all orgs, what each agent is vulnerable to, suppressions,
-- and alerts about an agent (not only about an asset).
--
-- `alerts.asset_id` becomes optional, which SQLite can only do by rebuilding the table (with foreign keys off,
-- so dropping the old table cascades nowhere; the runner checks the keys before committing).

CREATE TABLE alerts_new (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    rule_id           TEXT NOT NULL,
    asset_id          TEXT REFERENCES assets(id) ON DELETE CASCADE,
    report_id         TEXT NOT NULL,
    last_report_id    TEXT NOT NULL,
    severity          TEXT NOT NULL,
    status            TEXT NOT NULL,
    message           TEXT NOT NULL,
    actual            TEXT,
    rule              TEXT NOT NULL,
    occurrences       INTEGER NOT NULL,
    triggered_at      INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    status_changed_at INTEGER,
    status_changed_by TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    dismiss_reason    TEXT,
    dismiss_reason_text TEXT,
    agent_id          TEXT REFERENCES agents(id) ON DELETE CASCADE,
    subject           TEXT
);
INSERT INTO alerts_new (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, actual,
    rule, occurrences, triggered_at, last_seen_at, status_changed_at, status_changed_by, created_at, updated_at,
    dismiss_reason, dismiss_reason_text)
SELECT id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, actual,
    rule, occurrences, triggered_at, last_seen_at, status_changed_at, status_changed_by, created_at, updated_at,
    dismiss_reason, dismiss_reason_text FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_active ON alerts (rule_id, asset_id) WHERE status IN ('OPEN', 'ACKNOWLEDGED');
-- At most one active alert per rule, agent and subject (e.g. a CVE in a package).
CREATE UNIQUE INDEX alerts_active_agent ON alerts (rule_id, agent_id, subject)
    WHERE status IN ('OPEN', 'ACKNOWLEDGED') AND agent_id IS NOT NULL;
CREATE INDEX alerts_org_page ON alerts (org_id, created_at, id);

-- The host's distribution release as OSV names it (e.g. `Debian:12`), from the agent's os-release.
ALTER TABLE agents ADD COLUMN distro TEXT;
-- Tags the agent was started with, JSON `[{"key": …, "value": …}]`.
ALTER TABLE agents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

-- One row per imported OSV advisory; `modified` makes re-imports of an unchanged file a no-op.
CREATE TABLE vuln_advisories (
    id            TEXT PRIMARY KEY,
    modified      TEXT NOT NULL,
    published     TEXT,
    summary       TEXT,
    cves          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    score         REAL,
    vector_type   TEXT,
    fix_available INTEGER NOT NULL,
    imported_at   INTEGER NOT NULL
);

-- One row per (advisory, distribution release, source package); `spec` is the affected entry as JSON.
CREATE TABLE vuln_affected (
    advisory_id TEXT NOT NULL REFERENCES vuln_advisories(id) ON DELETE CASCADE,
    distro      TEXT NOT NULL,
    package     TEXT NOT NULL,
    spec        TEXT NOT NULL
);
CREATE INDEX vuln_affected_lookup ON vuln_affected (distro, package);
CREATE INDEX vuln_affected_advisory ON vuln_affected (advisory_id);

-- What each agent is vulnerable to now: one row per (agent, CVE, source package), replaced by every match run.
-- `package` is the name advisories use (the source package), `binary_name` an installed package built from it,
-- `reported_package` the package and upstream version as the advisory reports it (e.g. `openssl 3.0.11`).
CREATE TABLE agent_vulns (
    org_id            TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent_id          TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    cve               TEXT NOT NULL,
    package           TEXT NOT NULL,
    binary_name       TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    reported_package  TEXT NOT NULL,
    fixed_version     TEXT,
    advisories        TEXT NOT NULL,
    severity          TEXT NOT NULL,
    severity_level    INTEGER NOT NULL,
    vector_type       TEXT,
    first_seen_at     INTEGER NOT NULL,
    PRIMARY KEY (agent_id, cve, package)
);
CREATE INDEX agent_vulns_org ON agent_vulns (org_id, cve, package);

-- A suppressed CVE, for the whole org (`agent_id` = '') or for one agent.
CREATE TABLE vuln_suppressions (
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    cve        TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, cve, agent_id)
);
