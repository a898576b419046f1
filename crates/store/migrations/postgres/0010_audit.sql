-- The audit log: who changed what in an organization. Append-only: rows are inserted, never updated, and go
-- only with their organization. `actor` is what to show (an e-mail address, `key tlpro_…`, the command line);
-- `actor_user_id` is NULL when no user acted (the command line, the system) and has no foreign key, so that
-- the entries of a user outlive the user; `detail` is JSON text; `source` is where the change was made
-- (`api`, `dashboard`, `cli`).

CREATE TABLE audit_log (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    actor_user_id    TEXT,
    actor            TEXT NOT NULL,
    actor_key_prefix TEXT,
    action           TEXT NOT NULL,
    target_type      TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    summary          TEXT NOT NULL,
    client_ip        TEXT,
    detail           TEXT,
    source           TEXT NOT NULL
);
CREATE INDEX audit_log_org_page ON audit_log (org_id, created_at, id);
CREATE INDEX audit_log_org_action ON audit_log (org_id, action, created_at);
