-- Jobs are claimed by one node at a time (a lease) and keep their input and output file.
ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
ALTER TABLE jobs ADD COLUMN input TEXT;
ALTER TABLE jobs ADD COLUMN file TEXT;
