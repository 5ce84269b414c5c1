-- 030_remote_sources: where a load's file came from (issue 10).
--
-- A source folder can be a URI (https://, s3://, gdrive://). The file is streamed into a local cache by the plan
-- step; a chunk on another worker fetches it again from the same URI and checks the planned sha256. The ledger
-- records the file's URI (never with credentials), its size and its ETag or revision; local files record their path.

ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS source_dir text;   -- the remote source folder; NULL for local files
ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS source_uri text;
ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS etag       text;

ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS source_uri text;        -- the remote file's URI, or the local path
ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS size_bytes bigint;
ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS etag       text;        -- ETag (HTTP, S3) or revision (Google Drive)
