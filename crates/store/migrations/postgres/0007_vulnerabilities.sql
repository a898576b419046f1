-- Vulnerabilities: an OSV advisory database shared by all orgs, what each agent is vulnerable to, suppressions,
-- and alerts about an agent (not only about an asset).

ALTER TABLE alerts ALTER COLUMN asset_id DROP NOT NULL;
ALTER TABLE alerts ADD COLUMN agent_id TEXT REFERENCES agents(id) ON DELETE CASCADE;
ALTER TABLE alerts ADD COLUMN subject TEXT;
-- At most one active alert per rule, agent and subject (e.g. a CVE in a package).
CREATE UNIQUE INDEX alerts_active_agent ON alerts (rule_id, agent_id, subject)
    WHERE status IN ('OPEN', 'ACKNOWLEDGED') AND agent_id IS NOT NULL;

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
    score         DOUBLE PRECISION,
    vector_type   TEXT,
    fix_available BOOLEAN NOT NULL,
    imported_at   BIGINT NOT NULL
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
    severity_level    BIGINT NOT NULL,
    vector_type       TEXT,
    first_seen_at     BIGINT NOT NULL,
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
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, cve, agent_id)
);
