-- Host agents: enrollment credentials (report-only, stored as SHA-256) and the agents that report with them.

CREATE TABLE agent_enrollments (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX agent_enrollments_prefix ON agent_enrollments (prefix);

-- One row per host (org, instance id). Inventory lists are JSON text; `inventory_digest` is the agent's digest
-- of the inventory last received, so heartbeats can carry the digest instead of the lists.
CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    enrollment_id    TEXT NOT NULL,
    instance_id      TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    os_version       TEXT,
    kernel           TEXT,
    version          TEXT,
    ip_addresses     TEXT NOT NULL,
    packages         TEXT NOT NULL,
    ports            TEXT NOT NULL,
    inventory_digest TEXT,
    created_at       BIGINT NOT NULL,
    last_reported_at BIGINT NOT NULL,
    UNIQUE (org_id, instance_id)
);
CREATE INDEX agents_org_page ON agents (org_id, created_at, id);
