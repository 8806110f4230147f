-- What the test store charges for a product (the real stores price their own products).
ALTER TABLE products ADD COLUMN test_store_price_micros INTEGER;
ALTER TABLE products ADD COLUMN test_store_currency TEXT;
