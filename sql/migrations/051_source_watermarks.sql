-- 051_source_watermarks: incremental reads from a source database (src/ingest/db/watermark.ts).
--
--   ops.source_watermarks  per dataset and source: the highest value of the source's watermark column
--                          (DatabaseSourceSpec.watermarkColumn) that staging holds, from which database (locator:
--                          URL without password) and table, and the run that read it. A full or incremental read
--                          with a watermark column writes it in the transaction that publishes staging; the next
--                          read of the same database and table reads only rows above it. A load that replaces
--                          staging any other way (a file, another database) deletes it: the next read is full.

CREATE TABLE IF NOT EXISTS ops.source_watermarks (
  dataset          text        NOT NULL,
  source           text        NOT NULL,
  source_db        text        NOT NULL,
  source_table     text        NOT NULL,
  watermark_column text        NOT NULL,
  watermark        text        NOT NULL,   -- as the source database prints it
  previous         text,                   -- the watermark the read started above (NULL: a full read)
  rows_read        bigint      NOT NULL,
  run_id           text        NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset, source)
);
