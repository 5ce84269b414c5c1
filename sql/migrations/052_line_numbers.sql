-- 052_line_numbers: rows of text files are named by their row number and their line number (blank lines and line
-- breaks inside quoted fields counted), which differ as soon as a quoted field spans lines.
--
--   ops.load_plans.first_line     line number of the first byte of a CSV file's data (after its header); 1 otherwise
--   ops.load_chunks.lines_done    line ends consumed within the chunk up to byte_done (committed with it)
--   ops.rejected_rows.chunk_line  line of the record within its chunk (CSV) or in the file (JSON); set while loading
--   ops.rejected_rows.line_number line in the file where the record starts; set at publish, like row_number

ALTER TABLE ops.load_plans ADD COLUMN IF NOT EXISTS first_line bigint NOT NULL DEFAULT 1;
ALTER TABLE ops.load_chunks ADD COLUMN IF NOT EXISTS lines_done bigint NOT NULL DEFAULT 0;
ALTER TABLE ops.rejected_rows ADD COLUMN IF NOT EXISTS chunk_line bigint;
ALTER TABLE ops.rejected_rows ADD COLUMN IF NOT EXISTS line_number bigint;
