-- 050_relations: parents and children stay consistent (the dataset registry's relations, src/ingest/relations.ts).
--
--   ops.loads.rows_quarantined  child rows moved to ops.rejected_rows because their parent row was rejected in the same
--                               run (they do not count against the reject budget: the parent did);
--                               rows_read = rows_loaded + rows_rejected + rows_quarantined.
--   ops.loads.orphans           per relation, child rows whose parent is missing for another reason:
--                               [{"columns": ["product_id"], "parent": "products", "rows": 3, "keys": 2}]
--   ops.orphans                 one row per missing parent key: how many child rows refer to it, and the first of them.

ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS rows_quarantined bigint NOT NULL DEFAULT 0;
ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS orphans jsonb;

CREATE TABLE IF NOT EXISTS ops.orphans (
  run_id      text   NOT NULL,
  dataset     text   NOT NULL,
  source      text   NOT NULL,            -- the child source
  columns     text[] NOT NULL,            -- its columns holding the parent's key
  parent      text   NOT NULL,            -- the parent source
  parent_key  text   NOT NULL,            -- the missing key, as text (composite keys: values joined by ', ')
  rows        bigint NOT NULL,            -- child rows referring to it
  child_keys  text[] NOT NULL,            -- primary keys of the first (up to 10) of those child rows
  PRIMARY KEY (run_id, source, columns, parent_key)
);
