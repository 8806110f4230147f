-- Temporary grants: access given for a purchase a store could not verify when it was posted
-- (an outage), kept until the store answers. One per posted purchase (app, fetch token).
CREATE TABLE temporary_grants (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    customer_key TEXT    NOT NULL REFERENCES customers (key) ON DELETE CASCADE,
    app_id       TEXT    NOT NULL,
    store        TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    fetch_token  TEXT    NOT NULL,
    product_id   TEXT    NOT NULL,
    price_micros INTEGER,
    currency     TEXT,
    granted_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    settled_at   INTEGER,
    CONSTRAINT temporary_grants_once UNIQUE (app_id, fetch_token)
);
CREATE INDEX temporary_grants_by_customer ON temporary_grants (customer_key, seq);
CREATE INDEX temporary_grants_pending ON temporary_grants (project_id, seq) WHERE settled_at IS NULL;

-- Projects whose test store acts as if it were down (a simulated outage), since when.
CREATE TABLE test_store_outages (
    project_id TEXT    PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    since_ms   INTEGER NOT NULL
);
