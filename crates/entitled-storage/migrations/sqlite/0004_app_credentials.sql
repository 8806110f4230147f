-- Stripe account ids and store credentials, sealed (encrypted) by the server; only the
-- names of the credentials that are set are kept readable.
ALTER TABLE apps ADD COLUMN stripe_account_id TEXT;
ALTER TABLE apps ADD COLUMN sealed_credentials TEXT;
ALTER TABLE apps ADD COLUMN credential_names TEXT NOT NULL DEFAULT '';
