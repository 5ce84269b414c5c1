-- 001_schemas: the four schemas and the load ledger.
--
-- Applied by src/warehouse/migrate.ts, inside one transaction, while it holds the migration advisory lock,
-- so two workers starting at once never run this concurrently. Every statement is idempotent anyway
-- (IF NOT EXISTS), so applying it by hand against a database that already has these objects is harmless.
--
--   staging   one table per source, exactly the registry's columns (created by src/ingest/staging.ts)
--   warehouse Kimball star schema: dim_* and fct_* (created and rebuilt by sql/models/<dataset>/...)
--   mart      datamarts built from the warehouse
--   ops       pipeline bookkeeping: applied migrations, loads

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS warehouse;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ops;

-- Created by migrate.ts before any migration runs (it has to record this one); repeated here so the
-- schema is complete when the file is read on its own.
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
  name       text        PRIMARY KEY,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (run, source). The loader upserts on the primary key, so a retried load activity
-- overwrites its own row instead of adding a second one.
CREATE TABLE IF NOT EXISTS ops.loads (
  run_id        text        NOT NULL,
  workflow_id   text        NOT NULL,
  dataset       text        NOT NULL,
  source        text        NOT NULL,
  file          text        NOT NULL,
  sha256        text        NOT NULL,
  rows_read     bigint      NOT NULL DEFAULT 0,
  rows_loaded   bigint      NOT NULL DEFAULT 0,
  rows_rejected bigint      NOT NULL DEFAULT 0,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (run_id, source),
  CONSTRAINT loads_rows_non_negative CHECK (rows_read >= 0 AND rows_loaded >= 0 AND rows_rejected >= 0)
);

-- "Latest load of this source for this dataset" and "was this file (sha256) already loaded".
CREATE INDEX IF NOT EXISTS loads_dataset_source_started_idx ON ops.loads (dataset, source, started_at DESC);
CREATE INDEX IF NOT EXISTS loads_sha256_idx ON ops.loads (sha256);
