import type { z } from 'zod';

export type SourceFormat = 'csv' | 'excel' | 'json' | 'parquet';

/** A column of a source table: how to validate it (zod) and how to store it (PostgreSQL type). */
export interface ColumnSpec {
  /** Zod schema for one cell; it coerces what readers produce (strings, numbers, bigints, Dates). */
  schema: z.ZodType;
  /** PostgreSQL type of the staging column. */
  pgType: string;
  nullable: boolean;
}

export interface SourceSpec {
  /** Registry key and the name of its staging table (`staging.<name>`). */
  name: string;
  /** File name inside the source directory. */
  file: string;
  format: SourceFormat;
  /** Excel: the sheet to read (default: the first sheet). */
  sheet?: string;
  /** Column name -> spec, in the order of the staging table. Names are identifiers, never from file content. */
  columns: Record<string, ColumnSpec>;
  primaryKey: string[];
  /** The zod schema of one row, built from `columns` (plus any cross-column refinements). */
  rowSchema: z.ZodType<Record<string, unknown>>;
  /** Rows this source may reject before the load fails (quarantine seam; 0 today). */
  rejectBudget: number;
}

/** One record as read from a file, before validation. `row` counts from 1 at the first data row. */
export interface RawRecord {
  row: number;
  values: Record<string, unknown>;
}

export interface RecordStream {
  /** Column names exactly as found in the file (header row, JSON keys, Parquet schema). */
  header: string[];
  records: AsyncIterable<RawRecord>;
}

export interface ReaderOptions {
  /** Excel: sheet name; default the first worksheet. */
  sheet?: string;
  /** Display name for error messages (the file name relative to the source root). */
  displayName: string;
}

/** A reader turns a file into a header plus a stream of raw records, with memory bounded by a batch, not the file. */
export type Reader = (path: string, options: ReaderOptions) => Promise<RecordStream>;
