-- Tool reports and the durable job queue.

CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tool         TEXT NOT NULL,
    target       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    asset_id     TEXT REFERENCES assets(id) ON DELETE SET NULL,
    options      TEXT,
    origin       TEXT NOT NULL,
    requested_by TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    result       TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX reports_org_page ON reports (org_id, created_at, id);
CREATE INDEX reports_asset ON reports (asset_id, tool, created_at);

-- A job is claimed by setting status 'running' with a lease; a finished job is deleted (its outcome lives
-- in the row it worked for), a job that exhausted its attempts stays with status 'failed'.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    run_at       BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_by    TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_worker ON jobs (locked_by) WHERE status = 'running';

-- A queue table churns: every claim and finish leaves dead tuples, and the claim's plan depends on fresh
-- statistics (a stale "the table is tiny" estimate turns the ordered index scan into a scan-and-sort of the
-- whole backlog). Vacuum and analyze it far more eagerly than the defaults.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 500, autovacuum_analyze_threshold = 500, fillfactor = 80);
