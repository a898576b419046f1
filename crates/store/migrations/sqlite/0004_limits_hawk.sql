-- Plans' custom limits, monthly tool-run usage, and the sealed copy of API keys that Hawk needs.

-- Custom limits (ENTERPRISE): NULL means the plan's own figure.
ALTER TABLE orgs ADD COLUMN requests_per_minute INTEGER;
ALTER TABLE orgs ADD COLUMN tool_runs_per_month INTEGER;

-- Hawk signs requests with the API key itself as the HMAC key, so verifying needs the key: it is kept
-- sealed (ChaCha20-Poly1305 with the server's secrets key). Keys created before this column existed have
-- none and cannot be used with Hawk.
ALTER TABLE api_keys ADD COLUMN sealed_key TEXT;
CREATE INDEX api_keys_user_live ON api_keys (user_id) WHERE revoked_at IS NULL;

-- Tool runs per organization and calendar month (UTC, 'YYYY-MM'). `reservation` is the token of the last
-- transaction that counted runs here: the reports it inserts are guarded by it, so runs are counted exactly
-- when their reports are written.
CREATE TABLE tool_usage (
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    month       TEXT NOT NULL,
    runs        INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    reservation TEXT,
    PRIMARY KEY (org_id, month)
);
