-- The instant a lifecycle event carries: a billing issue's grace period end, an extension's new end.
ALTER TABLE lifecycle_events RENAME COLUMN grace_period_expires_at TO until_at;
