-- 020_run_history: run history and loaded months, written by the ops activities (activities/ops.ts).
--
-- Every pipeline run writes one row to ops.pipeline_runs and one row per step to ops.step_runs; the
-- activities upsert on the primary keys, so a retried activity overwrites its own rows. Temporal keeps the
-- same history for its retention period; these tables keep it for as long as you like, for SQL and charts.
--
--   ops.pipeline_runs  one row per run (a Temporal run id): what, why, when, how it ended
--   ops.step_runs      one row per step of a run: loads, model builds, quality gates
--   ops.partitions     one row per (dataset, month): which months are loaded, by which run, how many rows

CREATE TABLE IF NOT EXISTS ops.pipeline_runs (
  run_id      text        PRIMARY KEY,          -- Temporal run id
  workflow_id text        NOT NULL,             -- e.g. gudang-django-apparel-2022-03
  dataset     text        NOT NULL,
  period      text,                             -- YYYY-MM; NULL for a full refresh
  trigger     text        NOT NULL,             -- manual | schedule | backfill | rerun | demo
  status      text        NOT NULL,             -- running | completed | failed | cancelled
  run_key     text,
  from_step   text,                             -- rerun --from-step; NULL = from the start
  rerun_of    text,                             -- <workflow id>/<run id> a rerun redoes
  source_dir  text,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  rows_loaded bigint,                           -- rows loaded into staging by this run
  period_rows bigint,                           -- fact rows of the period after the run (all months: full run)
  error       text,
  CONSTRAINT pipeline_runs_status CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  CONSTRAINT pipeline_runs_period CHECK (period IS NULL OR period ~ '^\d{4}-(0[1-9]|1[0-2])$')
);

CREATE INDEX IF NOT EXISTS pipeline_runs_started_idx ON ops.pipeline_runs (started_at DESC);
CREATE INDEX IF NOT EXISTS pipeline_runs_dataset_period_idx ON ops.pipeline_runs (dataset, period, started_at DESC);

CREATE TABLE IF NOT EXISTS ops.step_runs (
  run_id      text        NOT NULL REFERENCES ops.pipeline_runs (run_id) ON DELETE CASCADE,
  step        text        NOT NULL,             -- "load orders", "build fct_transactions", "check facts"
  seq         integer     NOT NULL,             -- order within the run's plan
  phase       text        NOT NULL,             -- ingest | <layer>
  kind        text        NOT NULL,             -- load | model | gate
  status      text        NOT NULL,             -- pending | running | completed | failed | skipped
  started_at  timestamptz,
  finished_at timestamptz,
  rows_in     bigint,                           -- loads: rows read from the file
  rows_out    bigint,                           -- loads: rows loaded; models: rows in the table; gates: checks run
  error       text,
  PRIMARY KEY (run_id, step),
  CONSTRAINT step_runs_status CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped'))
);

CREATE TABLE IF NOT EXISTS ops.partitions (
  dataset     text        NOT NULL,
  period      text        NOT NULL,             -- YYYY-MM
  last_run_id text        NOT NULL,             -- the run that last loaded (or tried to load) it
  status      text        NOT NULL,             -- running | loaded | failed | cancelled
  rows        bigint,                           -- fact rows of the month after the last successful load
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset, period),
  CONSTRAINT partitions_status CHECK (status IN ('running', 'loaded', 'failed', 'cancelled')),
  CONSTRAINT partitions_period CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$')
);
