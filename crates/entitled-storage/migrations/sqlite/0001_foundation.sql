-- Projects, apps and API keys: the foundation every later table hangs off.
CREATE TABLE projects (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE apps (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    app_type     TEXT    NOT NULL,
    bundle_id    TEXT,
    package_name TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX apps_by_project ON apps (project_id, seq);

CREATE TABLE api_keys (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    project_id  TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    app_id      TEXT    REFERENCES apps (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    lookup      TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    permissions TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_by_lookup ON api_keys (lookup);
CREATE INDEX api_keys_by_project ON api_keys (project_id, seq);

-- One row once the first-start defaults exist, so two nodes starting together create them once.
CREATE TABLE bootstrap (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    project_id TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
