-- Continuous monitoring, alert rules, alerts and their notifications.

ALTER TABLE orgs ADD COLUMN monitor_interval_minutes INTEGER NOT NULL DEFAULT 1440;
-- Bumped with every change to the org's alert rules, so workers can cache compiled rules per org.
ALTER TABLE orgs ADD COLUMN rules_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN notify_email INTEGER NOT NULL DEFAULT 1;

ALTER TABLE assets ADD COLUMN monitor_interval_minutes INTEGER;
ALTER TABLE assets ADD COLUMN next_scan_at INTEGER;
ALTER TABLE assets ADD COLUMN last_scanned_at INTEGER;
-- Set by the scheduler that claimed the asset's current scan; reports are inserted only under the same token.
ALTER TABLE assets ADD COLUMN scan_token TEXT;
-- `next_scan_at` is NULL whenever the asset is not monitored, so the index holds only monitored assets.
CREATE INDEX assets_due ON assets (next_scan_at) WHERE next_scan_at IS NOT NULL;

CREATE TABLE alert_rules (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    tool             TEXT NOT NULL,
    field            TEXT NOT NULL,
    operator         TEXT NOT NULL,
    value            TEXT,
    severity         TEXT NOT NULL,
    enabled          INTEGER NOT NULL,
    notify_email     INTEGER NOT NULL,
    notify_webhook   INTEGER NOT NULL,
    webhook_url      TEXT,
    webhook_secret   TEXT,
    webhook_disabled_at     INTEGER,
    webhook_disabled_reason TEXT,
    asset_ids        TEXT,
    asset_types      TEXT,
    email_recipients TEXT,
    created_by       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX alert_rules_org_page ON alert_rules (org_id, created_at, id);

CREATE TABLE alerts (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    rule_id           TEXT NOT NULL,
    asset_id          TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
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
    updated_at        INTEGER NOT NULL
);
-- At most one active alert per rule and asset: a new match while one is open updates it.
CREATE UNIQUE INDEX alerts_active ON alerts (rule_id, asset_id) WHERE status IN ('OPEN', 'ACKNOWLEDGED');
CREATE INDEX alerts_org_page ON alerts (org_id, created_at, id);

CREATE TABLE alert_events (
    id         TEXT PRIMARY KEY,
    alert_id   TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status  TEXT NOT NULL,
    changed_by TEXT,
    note       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, created_at);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    alert_id        TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    rule_id         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_alert ON deliveries (alert_id, created_at, id);

CREATE TABLE delivery_attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    trigger_kind     TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER,
    response_excerpt TEXT,
    error            TEXT,
    outcome          TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, started_at, id);
