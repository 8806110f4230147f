-- Asynchronous jobs (webhook redelivery now; exports and imports later): status, progress
-- and result, readable while they run.
CREATE TABLE jobs (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    progress   BIGINT  NOT NULL,
    params     TEXT    NOT NULL,
    result     TEXT,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
