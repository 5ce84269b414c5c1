import { createHash } from 'node:crypto';
import type { SourceSpec } from '../sources/types';
import { quoteIdent } from './staging';

// Names and DDL of landing tables. Every identifier comes from the source registry (checked by defineSource) or is
// derived from a hash: nothing here is ever taken from file content or from the run's input.

export const LANDING_SCHEMA = 'landing';

/** landing.<source>__<12 hex of sha256(run id, source)>: one per (run, source), at most 54 characters. */
export function landingTableName(source: string, runId: string): string {
  const key = createHash('sha256').update(`${runId}\u0000${source}`).digest('hex').slice(0, 12);
  return `${source.slice(0, 40)}__${key}`;
}

export function qualifiedLanding(name: string): string {
  return `${LANDING_SCHEMA}.${quoteIdent(name)}`;
}

/** The landing table: the staging table's columns (same order, types, NOT NULL), no primary key, no indexes yet. */
export function landingDDL(spec: SourceSpec, name: string): string {
  const cols = Object.entries(spec.columns).map(([col, c]) => `  ${quoteIdent(col)} ${c.pgType}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE ${qualifiedLanding(name)} (\n${cols.join(',\n')}\n)`;
}

/**
 * Row-keys mode adds where each row came from, so rows moved at publish (duplicate keys, quarantined children) are
 * named by row and line: the chunk, the row within it, and the line where the record starts (CSV: within the chunk;
 * JSON: in the file; NULL for Excel and Parquet).
 */
export const ROW_KEY_COLUMNS = ['_chunk', '_row', '_line'] as const;

export function addRowKeysDDL(name: string): string {
  return `ALTER TABLE ${qualifiedLanding(name)} ADD COLUMN IF NOT EXISTS _chunk integer, ADD COLUMN IF NOT EXISTS _row bigint, ADD COLUMN IF NOT EXISTS _line bigint`;
}

/** SQL: the landing row `alias` as JSON without its row keys (the `raw` of a row moved at publish). */
export function rawWithoutRowKeys(alias: string): string {
  return `to_jsonb(${alias}) ${ROW_KEY_COLUMNS.map((c) => `- '${c}'`).join(' ')}`;
}

/** The COPY statement of a chunk: the file's column order, CSV format (an unquoted empty field is NULL). */
export function copySql(landing: string, copyColumns: readonly string[], rowKeys: boolean): string {
  const cols = [...copyColumns, ...(rowKeys ? ROW_KEY_COLUMNS : [])].map(quoteIdent).join(', ');
  return `COPY ${qualifiedLanding(landing)} (${cols}) FROM STDIN WITH (FORMAT csv)`;
}
