-- What reader connections keep between reads (API keys by lookup, a project's catalog view
-- and offering tree: sqlite_reader.rs) is kept under this counter, which every change to the
-- tables they come from moves, by trigger, whatever connection or process makes it. Commits
-- that only touch customers and purchases (receipts, visits) leave it, and what was kept, as
-- it was: SQLite's own `data_version` moves with every commit.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE TRIGGER api_keys_insert_moves_config_version AFTER INSERT ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER api_keys_update_moves_config_version AFTER UPDATE ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER api_keys_delete_moves_config_version AFTER DELETE ON api_keys
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_insert_moves_config_version AFTER INSERT ON products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_update_moves_config_version AFTER UPDATE ON products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_delete_moves_config_version AFTER DELETE ON products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlements_insert_moves_config_version AFTER INSERT ON entitlements
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlements_update_moves_config_version AFTER UPDATE ON entitlements
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlements_delete_moves_config_version AFTER DELETE ON entitlements
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlement_products_insert_moves_config_version AFTER INSERT ON entitlement_products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlement_products_update_moves_config_version AFTER UPDATE ON entitlement_products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER entitlement_products_delete_moves_config_version AFTER DELETE ON entitlement_products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER offerings_insert_moves_config_version AFTER INSERT ON offerings
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER offerings_update_moves_config_version AFTER UPDATE ON offerings
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER offerings_delete_moves_config_version AFTER DELETE ON offerings
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER packages_insert_moves_config_version AFTER INSERT ON packages
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER packages_update_moves_config_version AFTER UPDATE ON packages
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER packages_delete_moves_config_version AFTER DELETE ON packages
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER package_products_insert_moves_config_version AFTER INSERT ON package_products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER package_products_update_moves_config_version AFTER UPDATE ON package_products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER package_products_delete_moves_config_version AFTER DELETE ON package_products
    BEGIN UPDATE config_version SET version = version + 1; END;
