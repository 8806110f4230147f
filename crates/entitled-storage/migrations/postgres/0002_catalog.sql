-- The catalog (products, entitlements, offerings, packages) and the audit log.
CREATE TABLE products (
    seq                   BIGSERIAL PRIMARY KEY,
    id                    TEXT    NOT NULL UNIQUE,
    project_id            TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    app_id                TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    store_identifier      TEXT    NOT NULL,
    product_type          TEXT    NOT NULL,
    display_name          TEXT,
    subscription_duration TEXT,
    created_at            BIGINT  NOT NULL,
    CONSTRAINT products_store_identifier_per_app UNIQUE (app_id, store_identifier)
);
CREATE INDEX products_by_project ON products (project_id, seq);

CREATE TABLE entitlements (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    lookup_key   TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT entitlements_lookup_key_per_project UNIQUE (project_id, lookup_key)
);
CREATE INDEX entitlements_by_project ON entitlements (project_id, seq);

CREATE TABLE entitlement_products (
    seq            BIGSERIAL PRIMARY KEY,
    entitlement_id TEXT    NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    product_id     TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    created_at     BIGINT  NOT NULL,
    CONSTRAINT entitlement_products_once UNIQUE (entitlement_id, product_id)
);
CREATE INDEX entitlement_products_by_product ON entitlement_products (product_id);

CREATE TABLE offerings (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    lookup_key   TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    is_current   BOOLEAN NOT NULL,
    metadata     TEXT,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT offerings_lookup_key_per_project UNIQUE (project_id, lookup_key)
);
CREATE INDEX offerings_by_project ON offerings (project_id, seq);
CREATE UNIQUE INDEX offerings_one_current_per_project ON offerings (project_id) WHERE is_current;

CREATE TABLE packages (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    offering_id  TEXT    NOT NULL REFERENCES offerings (id) ON DELETE CASCADE,
    lookup_key   TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    position     BIGINT,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT packages_lookup_key_per_offering UNIQUE (offering_id, lookup_key)
);
CREATE INDEX packages_by_offering ON packages (offering_id, seq);

CREATE TABLE package_products (
    seq                  BIGSERIAL PRIMARY KEY,
    package_id           TEXT    NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    product_id           TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    app_id               TEXT    NOT NULL,
    eligibility_criteria TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    CONSTRAINT package_products_one_per_app UNIQUE (package_id, app_id)
);
CREATE INDEX package_products_by_product ON package_products (product_id);

CREATE TABLE audit_logs (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    project_id        TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    action_type       TEXT    NOT NULL,
    target_type       TEXT    NOT NULL,
    target_identifier TEXT    NOT NULL,
    actor_type        TEXT    NOT NULL,
    actor_identifier  TEXT    NOT NULL,
    occurred_at       BIGINT  NOT NULL,
    additional_data   TEXT    NOT NULL
);
CREATE INDEX audit_logs_by_project ON audit_logs (project_id, seq);
