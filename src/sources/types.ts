import type { PlannedBytes } from '../ingest/verify';
import type { z } from 'zod';

export type SourceFormat = 'csv' | 'excel' | 'json' | 'parquet';

/**
 * What a column holds, for the ingest engine's fast path (src/ingest/csv/fast-validate.ts): it checks cells of these
 * kinds by hand and falls back to the zod schema (the source of truth) whenever its check is not sure.
 * 'custom' columns always go through zod.
 */
export type ColumnKind = 'int' | 'numeric' | 'text' | 'timestamp' | 'date' | 'custom';

/** A column of a source table: how to validate it (zod) and how to store it (PostgreSQL type). */
export interface ColumnSpec {
  /** Zod schema for one cell; it coerces what readers produce (strings, numbers, bigints, Dates). */
  schema: z.ZodType;
  /** PostgreSQL type of the staging column. */
  pgType: string;
  nullable: boolean;
  /** Kind of value (default 'custom'). */
  kind?: ColumnKind;
  /** The column's name in the file when it differs from the staging column name (e.g. "Order Date"). */
  header?: string;
  /** Date columns: the text formats accepted besides ISO, in the order zod tries them (the fast path compiles them too). */
  dateFormats?: readonly string[];
}

/** A reject budget: N rows, or "P%" of the rows read. */
export type RejectBudgetSpec = number | `${number}%`;

export interface SourceSpec {
  /** Registry key and the name of its staging table (`<stagingSchema>.<name>`). */
  name: string;
  /** The schema of its staging table: the dataset's staging schema, set by defineDataset (default 'staging'). */
  stagingSchema?: string;
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
  /** The cross-column rules folded into rowSchema, kept for the ingest fast path (same function, same messages). */
  refine?: (row: Record<string, unknown>) => { column: string; message: string }[];
  /** Rows this source may reject before the load fails: N rows or "P%" of rows read (default 0). */
  rejectBudget: RejectBudgetSpec;
  /** Set when the source can also be read from a database table (`--source-db`); see DatabaseSourceSpec. */
  database?: DatabaseSourceSpec;
}

/**
 * How a source is read from a source database instead of its file: a table with the staging columns (same names),
 * split by its single integer primary key into ranges read side by side.
 */
export interface DatabaseSourceSpec {
  /** Table in the source database; default the source name. */
  table?: string;
  /** Date or timestamp column of this table that places a row in a period: a period run reads only that month. */
  periodColumn?: string;
  /** Or: the period comes through a parent row (order_details through its order): this.foreignKey = parent.key, parent.column in the month. */
  periodVia?: { table: string; foreignKey: string; key: string; column: string };
  /**
   * A column that grows with every insert (or insert and update, e.g. updated_at): repeated reads of the same table
   * read only rows above the last read's highest value and merge them into staging (ops.source_watermarks;
   * src/ingest/db/watermark.ts). Period reads ignore it.
   */
  watermarkColumn?: string;
}

/** One record as read from a file, before validation. `row` counts from 1 at the first data row. */
export interface RawRecord {
  row: number;
  /** Text files read whole (JSON): the line where the record starts (1-based, blank lines counted). */
  line?: number;
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
  /**
   * Excel: header names of date/timestamp columns. A plain number in such a column is an Excel serial day number
   * (a date typed without a date format) and is read as a Date; elsewhere numbers stay numbers.
   */
  dateColumns?: readonly string[];
  /** Display name for error messages (the file name relative to the source root). */
  displayName: string;
  /**
   * A load's plan (Excel, JSON, Parquet): every byte the reader parses is read through a VerifiedReader, from a block
   * whose sha256 matched the plan's (src/ingest/verify.ts); a changed block fails the read naming the file.
   */
  verify?: PlannedBytes;
}

/** A reader turns a file into a header plus a stream of raw records, with memory bounded by a batch, not the file. */
export type Reader = (path: string, options: ReaderOptions) => Promise<RecordStream>;
