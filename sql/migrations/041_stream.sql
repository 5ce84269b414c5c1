-- 041_stream: what the real-time stream (src/stream/) needs beyond 040.
--
--   ops.stream_batches.lags_ms   per source transaction of the batch, in commit order: its source commit to the
--                                batch's commit here (the latency distribution, not only the batch's worst line)
--   ops.stream_batches.rejected  rows the batch did not stage because they fail the source's validation (as a batch
--                                load would reject them), with the first errors
--   ops.stream_batches.reapplied units rebuilt again because a pipeline run published new tables while the stream ran
--   ops.stream_touched.unit      the unit (e.g. order_id) of the key, so the units a stream touched can be rebuilt
--   ops.streams.tables_version   the published tables the stream last wrote to (their oids): when a run publishes new
--                                ones, the units the stream touched since that run started are rebuilt

ALTER TABLE ops.stream_batches ADD COLUMN IF NOT EXISTS lags_ms real[];
ALTER TABLE ops.stream_batches ADD COLUMN IF NOT EXISTS rejected jsonb;
ALTER TABLE ops.stream_batches ADD COLUMN IF NOT EXISTS reapplied integer NOT NULL DEFAULT 0;
ALTER TABLE ops.stream_touched ADD COLUMN IF NOT EXISTS unit bigint;
ALTER TABLE ops.streams ADD COLUMN IF NOT EXISTS tables_version text;
CREATE INDEX IF NOT EXISTS stream_touched_applied_idx ON ops.stream_touched (dataset, applied_at);
CREATE INDEX IF NOT EXISTS stream_batches_committed_idx ON ops.stream_batches (dataset, committed_at DESC);
