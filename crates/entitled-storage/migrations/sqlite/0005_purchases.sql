-- Purchase facts: verified store transactions (current owner kept with each) and what the
-- stores said about them later; per-project test-store clocks; the purchase transfer rule.
CREATE TABLE store_transactions (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT    NOT NULL UNIQUE,
    project_id              TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    customer_key            TEXT    NOT NULL REFERENCES customers (key) ON DELETE CASCADE,
    app_id                  TEXT    NOT NULL,
    store                   TEXT    NOT NULL,
    store_transaction_id    TEXT    NOT NULL,
    original_transaction_id TEXT    NOT NULL,
    product_id              TEXT    NOT NULL,
    product_plan_id         TEXT,
    purchased_at            INTEGER NOT NULL,
    expires_at              INTEGER,
    period_type             TEXT    NOT NULL,
    environment             TEXT    NOT NULL,
    ownership               TEXT    NOT NULL,
    price_micros            INTEGER,
    currency                TEXT,
    is_subscription         BOOLEAN NOT NULL,
    recorded_at             INTEGER NOT NULL,
    CONSTRAINT store_transactions_once UNIQUE (project_id, store, store_transaction_id)
);
CREATE INDEX store_transactions_by_customer ON store_transactions (customer_key, seq);
CREATE INDEX store_transactions_by_original ON store_transactions (project_id, store, original_transaction_id);

CREATE TABLE lifecycle_events (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT    NOT NULL UNIQUE,
    project_id              TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    store                   TEXT    NOT NULL,
    original_transaction_id TEXT    NOT NULL,
    kind                    TEXT    NOT NULL,
    grace_period_expires_at INTEGER,
    occurred_at             INTEGER NOT NULL,
    recorded_at             INTEGER NOT NULL
);
CREATE INDEX lifecycle_events_by_original ON lifecycle_events (project_id, store, original_transaction_id);

CREATE TABLE test_clocks (
    project_id TEXT    PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    offset_ms  INTEGER NOT NULL
);

ALTER TABLE projects ADD COLUMN transfer_rule TEXT NOT NULL DEFAULT 'transfer';
