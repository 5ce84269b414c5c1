import { createHash } from 'node:crypto';
import type { Pool } from '../../db';
import { InputError } from '../../errors';
import { describeSourceTable, resolveSourceDb, sourceDbLocator } from '../../sources/database';
import type { SourceSpec } from '../../sources/types';
import { fileColumns } from '../../sources/validate';
import { effectiveBudget, formatRejectBudget } from '../budget';
import { withTransaction } from '../../db';
import { landingTableName } from '../landing';
import type { ChunkRange, LoadPlan, PlanOptions } from '../plan';
import { forgetPlan, readPlan, storePlan, sweepLandingTables } from '../plan';
import type { ReadQuery } from './source';
import { withSource } from './source';
import { previousWatermark } from './watermark';

// Planning the load of a source from a table of a source database: the same plan as a file's (ops.load_plans,
// ops.load_chunks, an empty landing table), with primary-key ranges where a file has byte ranges. A chunk reads
// lo <= key < hi; its checkpoint (byte_done) is the next key to read, so a retried chunk carries on after its last
// committed batch. Only the locator (URL without password) is stored; the worker adds the password when it connects.

/** What a database load reads, stored with its plan (ops.load_plans.db_read). */
export interface DbRead extends ReadQuery {
  /** Source database URL without password. */
  locator: string;
  /** Keys per batch (one transaction each), from the table's key density: about DB_BATCH_ROWS rows. */
  batchKeys: number;
  /** The period read, YYYY-MM (absent: every row). */
  periodKey?: string;
}

/** Rows per chunk activity, default (GUDANG_DB_CHUNK_ROWS). */
export const DEFAULT_DB_CHUNK_ROWS = 1_000_000;
/** Rows per batch (one transaction) within a chunk. */
export const DB_BATCH_ROWS = 100_000;

export interface DbPlanOptions extends PlanOptions {
  /** Source database URL without password. */
  sourceDb: string;
  /** Read only this month's rows (the source's periodColumn or periodVia). */
  period?: string;
  /** Rows per chunk (default 1,000,000). */
  chunkRows?: number;
  /** Rows per batch, one transaction each (default 100,000). */
  batchRows?: number;
}

/** "2022-03" -> ["2022-03-01 00:00:00", "2022-04-01 00:00:00"]. */
export function periodBounds(period: string): { starts: string; ends: string } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(period);
  if (!m) throw new InputError('ConfigError', `period "${period}" is not YYYY-MM`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const next = mo === 12 ? `${String(y + 1).padStart(4, '0')}-01` : `${m[1]}-${String(mo + 1).padStart(2, '0')}`;
  return { starts: `${period}-01 00:00:00`, ends: `${next}-01 00:00:00` };
}

/** The read of one source: its table, columns, key and, for a period run, the month's rows only. */
export function dbReadQuery(spec: SourceSpec, period: string | undefined): ReadQuery {
  const db = spec.database;
  if (!db) throw new InputError('ConfigError', `source ${spec.name} cannot be read from a database (its registry entry has no database section)`);
  const q: ReadQuery = { table: db.table ?? spec.name, columns: Object.keys(spec.columns), key: spec.primaryKey[0]! };
  const numeric = Object.entries(spec.columns).filter(([, c]) => c.kind === 'numeric').map(([name]) => name);
  if (numeric.length > 0) q.trimScale = numeric;
  if (period !== undefined && (db.periodColumn || db.periodVia)) q.period = { ...periodBounds(period), column: db.periodColumn, via: db.periodVia };
  return q;
}

/** Cuts [min, max] into n ranges of about `rows` rows each (by key span: ids are usually dense). */
export function keyRanges(min: number, max: number, count: number, rows: number): ChunkRange[] {
  if (count === 0 || max < min) return [{ chunk: 0, byteStart: 0, byteEnd: 0 }];
  const n = Math.max(1, Math.min(Math.ceil(count / Math.max(1, rows)), max - min + 1));
  const span = max - min + 1;
  const out: ChunkRange[] = [];
  for (let k = 0; k < n; k++) {
    const lo = min + Math.floor((span * k) / n);
    const hi = k === n - 1 ? max + 1 : min + Math.floor((span * (k + 1)) / n);
    out.push({ chunk: k, byteStart: lo, byteEnd: hi });
  }
  return out;
}

const sameRead = (a: DbRead | undefined, b: DbRead) =>
  a !== undefined && a.locator === b.locator && a.table === b.table && a.periodKey === b.periodKey && a.watermark?.above === b.watermark?.above;

/**
 * Plans the load of `spec` from its table in the source database: checks the table and its columns, counts the
 * rows to read (a period run: that month's), cuts the key span into chunk ranges and creates the landing table.
 * Idempotent like a file plan: a retried plan of the same run returns the stored plan, committed chunks included.
 */
export async function planDbLoad(pool: Pool, spec: SourceSpec, opts: DbPlanOptions): Promise<LoadPlan> {
  const locator = sourceDbLocator(opts.sourceDb);
  const query = dbReadQuery(spec, opts.period);
  const file = describeSourceTable(locator, query.table);
  // an incremental read: rows above the watermark of the last read of this table (a period read reads its month)
  const wmColumn = spec.database?.watermarkColumn;
  if (wmColumn && !query.period) {
    query.watermark = { column: wmColumn, above: await previousWatermark(pool, spec, opts.dataset, locator, query.table, wmColumn) };
  }
  const wanted: DbRead = { ...query, locator, batchKeys: 1, periodKey: query.period ? opts.period : undefined };

  const existing = await readPlan(pool, opts.runId, spec.name);
  if (existing) {
    if (existing.status === 'published' || (existing.status === 'loading' && sameRead(existing.dbRead, wanted))) return existing;
    await withTransaction(pool, (client) => forgetPlan(client, existing));
  }

  const db = resolveSourceDb(locator);
  opts.heartbeat?.({ phase: 'planning', source: spec.name, table: query.table });
  const stats = await withSource(db, async (source) => {
    const columns = await source.columns(query.table);
    if (!columns) throw new InputError('SourceFileMissing', `${file}: no such table in the source database`, { file });
    const have = new Set(columns);
    const missing = query.columns.filter((c) => !have.has(c));
    if (missing.length > 0) {
      throw new InputError('SourceHeaderMismatch', `${file}: missing column(s) ${missing.join(', ')} (the table has ${columns.join(', ')})`, { file, missing });
    }
    return source.stats(query);
  });

  const chunks = keyRanges(stats.min, stats.max, stats.count, opts.chunkRows ?? DEFAULT_DB_CHUNK_ROWS);
  const span = Math.max(1, stats.max - stats.min + 1);
  const density = stats.count > 0 ? stats.count / span : 1;
  const read: DbRead = { ...wanted, batchKeys: Math.max(1, Math.floor((opts.batchRows ?? DB_BATCH_ROWS) / density)) };
  // read up to the highest watermark seen now, no further: what arrives meanwhile is the next read's
  if (read.watermark) read.watermark = { ...read.watermark, upTo: stats.watermark ?? read.watermark.above };
  await sweepLandingTables(pool, opts.staleAfterMs ?? 24 * 3600_000);

  // A table has no bytes to hash: the fingerprint of a database load is what was read and what the count said.
  const sha256 = createHash('sha256').update(JSON.stringify({ locator, query, stats })).digest('hex');
  const plan: LoadPlan = {
    runId: opts.runId,
    source: spec.name,
    dataset: opts.dataset,
    file,
    path: locator,
    format: db.kind,
    sizeBytes: stats.count,
    mtimeMs: 0,
    sha256,
    header: fileColumns(spec).map((c) => c.header),
    copyColumns: query.columns.slice(),
    landingTable: landingTableName(spec.name, opts.runId),
    rejectBudget: formatRejectBudget(effectiveBudget(spec.rejectBudget, opts.rejectBudget)),
    mode: 'plain',
    status: 'loading',
    chunks,
    dbRead: read,
    sourceUri: file,
  };
  await storePlan(pool, spec, plan, opts.workflowId);
  return plan;
}
