import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool, PoolClient } from '../db';
import { transaction } from '../db';
import { InputError } from '../errors';
import type { SourceSpec } from '../sources/types';
import type { RowError } from '../sources/validate';
import { describeRowError, errorKind } from '../sources/validate';
import type { parseRejectBudget } from './budget';
import { certainlyOverBudget } from './budget';
import type { ChunkOptions } from './chunk';
import { copyTextLine, jsonForPg, textArrayLiteral } from './encode';
import { copySql } from './landing';
import type { LoadPlan } from './plan';

// What every kind of chunk loader shares: a batch is one transaction (its COPY into the landing table, its rejected
// rows, the chunk's new checkpoint), committed only while this attempt still owns the chunk.

/** A row that goes to ops.rejected_rows instead of staging. */
export interface RejectedRow {
  /** Row number within the chunk (1 = its first record); whole-file readers: the reader's row number. */
  row: number;
  /** The record as read: {"column as in the file": value}. */
  raw: Record<string, unknown>;
  /** Text files: the line where the record starts, within the chunk (CSV) or the file (JSON), 1-based. */
  line?: number;
  /** Every reason, readable. */
  errors: string[];
  /** The reasons without values (for "most common errors"). */
  kinds: string[];
}

export function rejectFromErrors(row: number, raw: Record<string, unknown>, errors: RowError[], line?: number): RejectedRow {
  return { row, line, raw, errors: errors.map(describeRowError), kinds: [...new Set(errors.map(errorKind))] };
}

export interface Checkpoint {
  byteDone: number;
  rowsRead: number;
  rowsLoaded: number;
  rowsRejected: number;
  /** Line ends consumed within the chunk up to byteDone (CSV; 0 for other loads). */
  linesDone?: number;
}

export const MAX_REJECTS_PER_BATCH = 10_000;

export type BatchRunner = (
  client: PoolClient,
  pool: Pool,
  spec: SourceSpec,
  plan: LoadPlan,
  chunk: number,
  token: string,
  from: Checkpoint,
  opts: ChunkOptions,
  budget: ReturnType<typeof parseRejectBudget>,
  beat: (cp: Checkpoint, batches: number) => void,
) => Promise<{ batches: number }>;

/** Writes to a COPY stream, honouring backpressure. */
export async function write(stream: Writable, piece: Buffer): Promise<void> {
  if (!stream.write(piece)) await once(stream, 'drain');
}

/** Appends rejected rows to ops.rejected_rows with COPY (text format: every value escaped, nothing interpolated). */
async function copyRejects(client: PoolClient, plan: LoadPlan, chunk: number, rejects: readonly RejectedRow[]): Promise<void> {
  if (rejects.length === 0) return;
  const stream = client.query(copyFrom(`COPY ops.rejected_rows (run_id, source, file, chunk, chunk_row, chunk_line, raw, errors, kinds) FROM STDIN`));
  const done = finished(stream);
  let text = '';
  for (const r of rejects) {
    text += copyTextLine([plan.runId, plan.source, plan.file, chunk, r.row, r.line ?? null, jsonForPg(r.raw), textArrayLiteral(r.errors), textArrayLiteral(r.kinds)]);
    if (text.length > 256 * 1024) {
      await write(stream, Buffer.from(text, 'utf8'));
      text = '';
    }
  }
  if (text) await write(stream, Buffer.from(text, 'utf8'));
  stream.end();
  await done;
}

/** Total rows rejected so far by every chunk of the load (committed). */
export async function rejectedSoFar(pool: Pool | PoolClient, plan: LoadPlan): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT coalesce(sum(rows_rejected), 0) AS n FROM ops.load_chunks WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
  return Number(rows[0]!.n);
}

/** Commits a batch's checkpoint, if this attempt still owns the chunk and nobody moved the checkpoint meanwhile. */
export async function advance(client: PoolClient, plan: LoadPlan, chunk: number, token: string, from: Checkpoint, to: Checkpoint, status: string): Promise<void> {
  const res = await client.query(
    `UPDATE ops.load_chunks
        SET byte_done = $6, rows_read = $7, rows_loaded = $8, rows_rejected = $9, status = $10, batches = batches + 1, lines_done = $12,
            finished_at = CASE WHEN $10 IN ('done', 'stopped') THEN now() END, updated_at = now()
      WHERE run_id = $1 AND source = $2 AND chunk = $3 AND owner_token = $4 AND byte_done = $5 AND rows_read = $11`,
    [plan.runId, plan.source, chunk, token, from.byteDone, to.byteDone, to.rowsRead, to.rowsLoaded, to.rowsRejected, status, from.rowsRead, to.linesDone ?? 0],
  );
  if (res.rowCount !== 1) throw new Error(`chunk ${chunk} of ${plan.source} was taken over by another attempt; this attempt stops`);
  await client.query(`UPDATE ops.load_plans SET updated_at = now() WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
}

/** The running COPY of the current batch. */
export interface OpenCopy {
  stream: Writable;
  done: Promise<void>;
  error?: Error;
}

export function openCopy(client: PoolClient, plan: LoadPlan): OpenCopy {
  const stream = client.query(copyFrom(copySql(plan.landingTable, plan.copyColumns, plan.mode === 'rowkeys')));
  const copy: OpenCopy = { stream, done: finished(stream) };
  copy.done.catch(() => undefined); // surfaced by closeCopy
  stream.on('error', (err) => (copy.error = err));
  return copy;
}

export async function closeCopy(copy: OpenCopy): Promise<void> {
  if (copy.error) throw copy.error;
  copy.stream.end();
  await copy.done;
}

/**
 * Second half of a batch's transaction (the COPY is done): its rejected rows and the chunk's new checkpoint, then
 * COMMIT. Returns true when the load is now certainly over its reject budget (the chunk is marked 'stopped').
 */
export async function commitBatch(
  client: PoolClient,
  plan: LoadPlan,
  chunk: number,
  token: string,
  from: Checkpoint,
  to: Checkpoint,
  rejects: readonly RejectedRow[],
  budget: ReturnType<typeof parseRejectBudget>,
  eof: boolean,
): Promise<boolean> {
  try {
    await copyRejects(client, plan, chunk, rejects);
    const total = (await rejectedSoFar(client, plan)) - from.rowsRejected + to.rowsRejected;
    const overBudget = certainlyOverBudget(budget, total);
    await advance(client, plan, chunk, token, from, to, overBudget ? 'stopped' : eof ? 'done' : 'loading');
    await client.query('COMMIT');
    return overBudget;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** What one kind of chunk loader (CSV byte range, reader records, database key range) does inside runBatches. */
export interface BatchSource {
  /** Nothing is left to load after `committed`. */
  done(committed: Checkpoint): boolean;
  /** Writes the next batch, from `committed`, to `copy`: about a batch's worth, at most `maxRejects` rejected rows. */
  fill(copy: OpenCopy, committed: Checkpoint, maxRejects: number): Promise<void>;
  /** Once the batch's COPY went through: the checkpoint it reaches, its rejected rows, whether the chunk is done. */
  end(committed: Checkpoint): { to: Checkpoint; rejects: readonly RejectedRow[]; eof: boolean };
  /** PostgreSQL refused a value of the batch: true when the source rejected its record and `resend` can send the rest. */
  refused?(err: unknown): boolean;
  resend?(copy: OpenCopy): Promise<void>;
  /** Where in the file the value PostgreSQL refused came from, when the source can tell (for the error message). */
  where?(err: unknown): string | undefined;
}

/**
 * The batches of one chunk, each one transaction (the one place that opens and commits them): BEGIN, the source's
 * rows into the landing table by COPY, then its rejected rows and the chunk's new checkpoint (commitBatch), COMMIT,
 * only while this attempt still owns the chunk. A range with nothing to load is marked done in one transaction.
 */
export async function runBatches(
  source: BatchSource,
  ...[client, pool, , plan, chunk, token, from, opts, budget, beat]: Parameters<BatchRunner>
): Promise<{ batches: number }> {
  let committed = from;
  let batches = 0;
  while (!source.done(committed)) {
    const room = budget.kind === 'rows' ? Math.max(1, budget.rows + 1 - (await rejectedSoFar(pool, plan))) : MAX_REJECTS_PER_BATCH;
    const maxRejects = Math.min(MAX_REJECTS_PER_BATCH, room);
    let end: ReturnType<BatchSource['end']> | undefined;
    for (let attempt = 0; end === undefined; attempt++) {
      await client.query('BEGIN');
      const copy = openCopy(client, plan);
      try {
        if (attempt === 0) await source.fill(copy, committed, maxRejects);
        else await source.resend!(copy);
        await closeCopy(copy);
        end = source.end(committed);
      } catch (err) {
        copy.stream.destroy(err as Error);
        await client.query('ROLLBACK').catch(() => undefined);
        // a value PostgreSQL refused although validation passed: a source that can, rejects its record and resends
        if (!(source.resend && source.refused?.(err))) throw translateCopyError(err, plan, source.where?.(err));
      }
    }
    const overBudget = await commitBatch(client, plan, chunk, token, committed, end.to, end.rejects, budget, end.eof);
    committed = end.to;
    batches++;
    beat(committed, batches);
    if (overBudget) break;
    if (opts.failAfterBatches !== undefined && batches >= opts.failAfterBatches && !end.eof) {
      throw new Error(`fault injected after ${batches} batch(es) of chunk ${chunk}`);
    }
  }
  if (batches === 0) {
    // nothing to read (an empty range, e.g. a header-only file, or a checkpoint already at the end)
    await transaction(client, () => advance(client, plan, chunk, token, committed, { ...committed, byteDone: plan.chunks[chunk]!.byteEnd }, 'done'));
  }
  return { batches };
}

/**
 * The line of the batch's COPY stream holding the value PostgreSQL refused (a data exception, class 22), or undefined
 * for any other error. Loaders map it back to the record (and its file row) it came from.
 */
export function refusedLine(err: unknown): number | undefined {
  const pgErr = err as { code?: string; where?: string };
  if (typeof pgErr.code !== 'string' || !pgErr.code.startsWith('22')) return undefined;
  const m = /\bline (\d+)/.exec(pgErr.where ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The reject reason for a value PostgreSQL refused (the file's column named when the error says which). */
export function refusedReason(err: unknown, plan: LoadPlan): { errors: string[]; kinds: string[] } {
  const pgErr = err as { message?: string; where?: string };
  const column = /column (\S+?):/.exec(pgErr.where ?? '')?.[1];
  const header = column !== undefined ? plan.header[plan.copyColumns.indexOf(column)] : undefined;
  return {
    errors: [`${header !== undefined ? `column ${header}: ` : ''}PostgreSQL refused the value: ${pgErr.message ?? String(err)}`],
    kinds: [`${header !== undefined ? `${header}: ` : ''}refused by PostgreSQL`],
  };
}

/**
 * A COPY that PostgreSQL refused is a bug or a database problem, except for what bad input can still cause. Its
 * message never names a line of the COPY stream (which means nothing to whoever wrote the file): `where`, when given,
 * says where in the file the batch's records are.
 */
export function translateCopyError(err: unknown, plan: LoadPlan, where?: string): unknown {
  const pgErr = err as { code?: string; message?: string; where?: string };
  // 22xxx: data exceptions (a value PostgreSQL would not take although validation passed: e.g. numeric overflow)
  if (typeof pgErr.code === 'string' && pgErr.code.startsWith('22')) {
    const column = /column (\S+?):/.exec(pgErr.where ?? '')?.[1];
    const header = column !== undefined ? plan.header[plan.copyColumns.indexOf(column)] : undefined;
    return new InputError(
      'SourceFormatError',
      `${plan.file}${where ? ` ${where}` : ''}: PostgreSQL refused a value${header !== undefined ? ` of column ${header}` : ''}: ${pgErr.message ?? ''}`,
      { file: plan.file },
    );
  }
  return err;
}
