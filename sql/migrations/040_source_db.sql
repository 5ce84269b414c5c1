-- 040_source_db: loads read from a table of a source database (src/ingest/db/), and the real-time stream.
--
--   ops.load_plans.db_read  what a database load reads: the source database's locator (its URL without password),
--                           the table, columns, key, and for a period run the month; NULL for files. Its chunks'
--                           byte_start/byte_end/byte_done are primary-key values there, not byte offsets.

--
--   ops.streams           one real-time stream per dataset (src/stream/): its source database (locator), replication
--                         slot and publication, and the commit position applied to the warehouse (applied_lsn) in the
--                         same transaction as the changes: a batch seen again after a crash is skipped, never counted
--                         twice. The slot's confirmed position is advanced only after that commit.
--   ops.stream_batches    one micro-batch applied: its changes, the source commit times it carried, when it committed
--                         here, the lag (source commit to mart commit) and the slot's retained WAL.
--   ops.stream_touched    the keys each batch changed, with when: a period run that read the source before the stream
--                         applied a newer change to a row leaves that row as the stream wrote it.

ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS db_read jsonb;

CREATE TABLE IF NOT EXISTS ops.streams (
  dataset        text        PRIMARY KEY,
  source_db      text        NOT NULL,            -- locator: URL without password
  slot_name      text        NOT NULL,
  publication    text        NOT NULL,
  workflow_id    text        NOT NULL DEFAULT '',
  status         text        NOT NULL DEFAULT 'starting',
  applied_lsn    text,                            -- commit end position of the last transaction applied
  applied_at     timestamptz,
  batches        bigint      NOT NULL DEFAULT 0,
  changes        bigint      NOT NULL DEFAULT 0,
  last_lag_ms    double precision,
  retained_wal_bytes bigint,
  started_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT streams_status CHECK (status IN ('starting', 'running', 'stopped', 'failed'))
);

CREATE TABLE IF NOT EXISTS ops.stream_batches (
  dataset            text        NOT NULL,
  batch_id           bigserial,
  first_lsn          text        NOT NULL,
  last_lsn           text        NOT NULL,
  transactions       integer     NOT NULL,
  changes            integer     NOT NULL,
  rows_by_table      jsonb       NOT NULL,       -- {"orders": {"insert": 3, "update": 0, "delete": 0}, ...}
  orders_affected    integer     NOT NULL,
  first_commit_at    timestamptz NOT NULL,       -- source commit time of the batch's oldest transaction
  last_commit_at     timestamptz NOT NULL,
  received_at        timestamptz NOT NULL,
  committed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  lag_ms             double precision NOT NULL,  -- committed_at - first_commit_at: the worst line of the batch
  apply_ms           double precision NOT NULL,
  retained_wal_bytes bigint,
  PRIMARY KEY (dataset, batch_id)
);

CREATE TABLE IF NOT EXISTS ops.stream_touched (
  dataset    text        NOT NULL,
  source     text        NOT NULL,
  key        bigint      NOT NULL,
  applied_at timestamptz NOT NULL,
  PRIMARY KEY (dataset, source, key)
);
