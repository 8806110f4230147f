-- Customers, their aliases and attributes, promotional grants and transfers.
CREATE TABLE customers (
    seq                        BIGSERIAL PRIMARY KEY,
    key                        TEXT    NOT NULL UNIQUE,
    project_id                 TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id                         TEXT    NOT NULL,
    first_seen_at              BIGINT  NOT NULL,
    last_seen_at               BIGINT,
    last_seen_app_version      TEXT,
    last_seen_country          TEXT,
    last_seen_platform         TEXT,
    last_seen_platform_version TEXT,
    offering_id                TEXT    REFERENCES offerings (id) ON DELETE SET NULL,
    CONSTRAINT customers_id_per_project UNIQUE (project_id, id)
);
CREATE INDEX customers_by_project ON customers (project_id, seq);

-- Every id a customer answers to, its original id included: one namespace per project.
CREATE TABLE customer_aliases (
    seq          BIGSERIAL PRIMARY KEY,
    project_id   TEXT    NOT NULL,
    alias        TEXT    NOT NULL,
    customer_key TEXT    NOT NULL REFERENCES customers (key) ON DELETE CASCADE,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT customer_aliases_unique_per_project UNIQUE (project_id, alias)
);
CREATE INDEX customer_aliases_by_customer ON customer_aliases (customer_key, seq);

CREATE TABLE customer_attributes (
    seq          BIGSERIAL PRIMARY KEY,
    customer_key TEXT    NOT NULL REFERENCES customers (key) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    value        TEXT,
    updated_at   BIGINT  NOT NULL,
    CONSTRAINT customer_attributes_one_per_name UNIQUE (customer_key, name)
);
CREATE INDEX customer_attributes_by_value ON customer_attributes (name, value);

-- Facts: grants are never updated except to record their revocation.
CREATE TABLE promotional_grants (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    customer_key   TEXT    NOT NULL REFERENCES customers (key) ON DELETE CASCADE,
    entitlement_id TEXT    NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    starts_at      BIGINT  NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT
);
CREATE INDEX promotional_grants_by_customer ON promotional_grants (customer_key, seq);

CREATE TABLE customer_transfers (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    project_id          TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_customer_key TEXT    NOT NULL,
    target_customer_key TEXT    NOT NULL,
    app_ids             TEXT,
    transferred_at      BIGINT  NOT NULL
);
