-- 054_block_hashes: a CSV load reads only bytes its plan hashed. While planning, the file is hashed whole (sha256,
-- what ops.loads.sha256 shows) and block by block; a chunk hashes each block it reads and compares it with the plan's
-- before any of its bytes are used, so content changed in place (same size, same modification time) fails the load.
--
--   ops.load_plans.verify_block_bytes  block size: block k is the file's bytes [k * size, (k + 1) * size); NULL: no blocks
--   ops.load_plans.block_sha256        the blocks' sha256 digests, 32 bytes each, in file order

ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS verify_block_bytes integer;
ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS block_sha256 bytea;
