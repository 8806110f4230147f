-- Webhooks: integrations, the outbox of customer events (written with the facts that cause
-- them), one delivery per integration and event, and every attempt.
CREATE TABLE webhook_integrations (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT    NOT NULL UNIQUE,
    project_id           TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    url                  TEXT    NOT NULL,
    authorization_header TEXT,
    environment          TEXT,
    event_types          TEXT,
    app_id               TEXT,
    signing_secret       TEXT    NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX webhook_integrations_by_project ON webhook_integrations (project_id, seq);

CREATE TABLE outbox_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    customer_key TEXT,
    event_type   TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    app_id       TEXT,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX outbox_events_by_project ON outbox_events (project_id, seq);

CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    project_id       TEXT    NOT NULL,
    integration_id   TEXT    NOT NULL REFERENCES webhook_integrations (id) ON DELETE CASCADE,
    event_id         TEXT    NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    customer_key     TEXT,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (integration_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_customer ON webhook_deliveries (integration_id, customer_key, seq);

CREATE TABLE webhook_attempts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, seq);
