-- The sweep (what time alone changes: test-store renewals, EXPIRATION events) remembers per
-- project how far it has looked, and finds what ends in a window through these indexes.
CREATE TABLE sweeps (
    project_id  TEXT    PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    swept_until INTEGER NOT NULL
);
CREATE INDEX store_transactions_by_expiry ON store_transactions (project_id, expires_at);
CREATE INDEX lifecycle_events_by_until ON lifecycle_events (project_id, until_at);
