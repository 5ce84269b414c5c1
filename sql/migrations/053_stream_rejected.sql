-- 053_stream_rejected: the real-time stream's quarantine (src/stream/quarantine.ts).
--
--   ops.stream_rejected  the rows of the streamed sources the stream keeps out of staging right now, one per primary
--                        key, as a batch run over the same source rows would: kind 'invalid' (the row fails its
--                        source's validation; data = its values as captured) or 'parent row rejected' (a child of a
--                        relation declared onParentRejected: 'quarantine' whose parent row is kept out; data = the
--                        child as staged, to put back when the parent is valid again or gone). key, parent_key: the
--                        primary key and the parent's key as {"column": "value as PostgreSQL text"}.
--                        Unlike ops.rejected_rows (one run's rejects, by file row) this is state: an entry goes as
--                        soon as the source row changes, is deleted, or (children) the parent comes back.

CREATE TABLE IF NOT EXISTS ops.stream_rejected (
  dataset     text        NOT NULL,
  source      text        NOT NULL,
  key         jsonb       NOT NULL,
  kind        text        NOT NULL,
  errors      text[]      NOT NULL,
  data        jsonb,
  parent      text,
  parent_key  jsonb,
  rejected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset, source, key),
  CONSTRAINT stream_rejected_kind CHECK (kind IN ('invalid', 'parent row rejected'))
);

CREATE INDEX IF NOT EXISTS stream_rejected_parent_idx ON ops.stream_rejected (dataset, parent, parent_key) WHERE parent IS NOT NULL;
