-- 010_ingest: what the ingest engine needs to load big files in resumable, parallel pieces and to quarantine bad rows.
--
--   landing            one table per (run, source) while it loads: landing.<source>__<run key>, the source's columns,
--                      no indexes; chunks COPY into it batch by batch. Publishing builds the primary key and moves it
--                      into staging in one transaction (src/ingest/publish.ts).
--   ops.load_plans     one row per (run, source): the file as planned (size, mtime, sha256, header) and the load's state.
--   ops.load_chunks    one row per byte range of the file: the committed checkpoint (byte_done, row counts) is updated in
--                      the same transaction as the batch it describes, so it is the truth a retried attempt resumes from.
--   ops.rejected_rows  every row that did not make it into staging, with every reason.

CREATE SCHEMA IF NOT EXISTS landing;

CREATE TABLE IF NOT EXISTS ops.load_plans (
  run_id        text        NOT NULL,
  source        text        NOT NULL,
  dataset       text        NOT NULL,
  workflow_id   text        NOT NULL DEFAULT '',
  file          text        NOT NULL,            -- as shown to people: the registry's file name
  path          text        NOT NULL,            -- resolved absolute path the worker reads
  format        text        NOT NULL,
  size_bytes    bigint      NOT NULL,
  mtime_ms      double precision NOT NULL,
  sha256        text        NOT NULL,
  header        jsonb       NOT NULL,            -- column names in file order, as found in the file
  copy_columns  jsonb       NOT NULL,            -- staging column names in file order (the COPY column list)
  landing_table text        NOT NULL,            -- unqualified name in schema landing
  reject_budget text        NOT NULL,
  -- 'plain': rows only; 'rowkeys': every row also carries (_chunk, _row), to name duplicate keys by row number
  mode          text        NOT NULL DEFAULT 'plain',
  status        text        NOT NULL DEFAULT 'loading',
  result        jsonb,                           -- the LoadResult once published
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, source),
  CONSTRAINT load_plans_mode CHECK (mode IN ('plain', 'rowkeys')),
  CONSTRAINT load_plans_status CHECK (status IN ('loading', 'published', 'failed', 'abandoned'))
);

CREATE INDEX IF NOT EXISTS load_plans_status_updated_idx ON ops.load_plans (status, updated_at);

CREATE TABLE IF NOT EXISTS ops.load_chunks (
  run_id        text        NOT NULL,
  source        text        NOT NULL,
  chunk         integer     NOT NULL,
  byte_start    bigint      NOT NULL,
  byte_end      bigint      NOT NULL,
  byte_done     bigint      NOT NULL,            -- committed: everything before this offset is in landing or rejected
  rows_read     bigint      NOT NULL DEFAULT 0,
  rows_loaded   bigint      NOT NULL DEFAULT 0,
  rows_rejected bigint      NOT NULL DEFAULT 0,
  -- pending -> loading -> done; 'stopped' when the load stopped early because the reject budget was already blown
  status        text        NOT NULL DEFAULT 'pending',
  attempts      integer     NOT NULL DEFAULT 0,
  batches       integer     NOT NULL DEFAULT 0,
  owner_token   text,                            -- the attempt that owns the chunk; a superseded attempt cannot commit
  started_at    timestamptz,
  finished_at   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, source, chunk),
  FOREIGN KEY (run_id, source) REFERENCES ops.load_plans (run_id, source) ON DELETE CASCADE,
  CONSTRAINT load_chunks_range CHECK (byte_start <= byte_done AND byte_done <= byte_end),
  CONSTRAINT load_chunks_rows CHECK (rows_read = rows_loaded + rows_rejected),
  CONSTRAINT load_chunks_status CHECK (status IN ('pending', 'loading', 'done', 'stopped'))
);

CREATE TABLE IF NOT EXISTS ops.rejected_rows (
  run_id        text        NOT NULL,
  source        text        NOT NULL,
  file          text        NOT NULL,
  chunk         integer     NOT NULL,
  chunk_row     bigint      NOT NULL,            -- row within the chunk (whole-file loads: the reader's row number)
  row_number    bigint,                          -- row in the file, counted from 1 after the header; set at publish
  raw           jsonb       NOT NULL,            -- the record as read: {"column as in the file": "value as read"}
  errors        text[]      NOT NULL,            -- every reason, readable: 'column qty: expected an integer (got "x")'
  kinds         text[]      NOT NULL,            -- the reasons without values, for "most common errors"
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, source, chunk, chunk_row)
);

CREATE INDEX IF NOT EXISTS rejected_rows_row_idx ON ops.rejected_rows (run_id, source, row_number);
