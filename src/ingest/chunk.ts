import { randomUUID } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import type { Pool } from '../db';
import { InputError } from '../errors';
import type { SourceSpec } from '../sources/types';
import type { Checkpoint } from './batch';
import { rejectedSoFar } from './batch';
import { certainlyOverBudget, parseRejectBudget } from './budget';
import { withClient } from '../db';
import { loadCsvBatches } from './csv/batches';
import { loadDbBatches } from './db/batches';
import type { LoadPlan } from './plan';
import { readPlan } from './plan';
import { loadRecordBatches } from './records';

// One chunk of one load: a byte range of a CSV file (or, for Excel/JSON/Parquet, the whole file) streamed into the
// landing table in batches. Each batch is one transaction: its COPY, its rejected rows and the chunk's new checkpoint
// in ops.load_chunks (byte offset and row counts reached) commit together or not at all. A retried attempt reads
// that checkpoint and carries on from it; the heartbeat carries the same checkpoint so an operator (and the fault
// tests) can see where a load is. An attempt claims the chunk with a fresh token: a superseded attempt that is
// still running (a zombie worker) can no longer commit, because each commit checks the token and the checkpoint.

/** The load this chunk belongs to was published, failed or abandoned: there is nothing to do, and retrying will not help. */
export class LoadNotActiveError extends Error {
  override readonly name = 'LoadNotActiveError';
}

export interface ChunkOptions {
  /** Input bytes per batch (one transaction); default 16 MiB. */
  batchBytes?: number;
  /** A batch also ends after this long, so progress is committed at least this often; default 2 s. */
  batchMs?: number;
  /** Bytes read from the file at a time; default 4 MiB. */
  readBytes?: number;
  /** Called with the chunk's committed checkpoint (immediately, after each batch); the activity heartbeats it. */
  heartbeat?: (details: ChunkHeartbeat) => void;
  /** Cancellation (the activity's). */
  signal?: AbortSignal;
  /** Fault injection for tests: throw after this many batches committed by this attempt. */
  failAfterBatches?: number;
}

/** The heartbeat of a chunk: its committed checkpoint. */
export interface ChunkHeartbeat {
  phase: 'loading';
  source: string;
  chunk: number;
  /** Rows of this chunk committed (loaded + rejected). */
  committedRows: number;
  /** File offset up to which everything is committed. */
  byteOffset: number;
  rowsLoaded: number;
  rowsRejected: number;
  /** Where this attempt started: the checkpoint it resumed from (0 rows = from the chunk start). */
  resumedFromRow: number;
  resumedFromByte: number;
  batches: number;
}

export interface ChunkResult {
  source: string;
  chunk: number;
  status: 'done' | 'stopped';
  rowsRead: number;
  rowsLoaded: number;
  rowsRejected: number;
  byteStart: number;
  byteEnd: number;
  /** The checkpoint this attempt resumed from (0 = from the start of the chunk). */
  resumedFromRow: number;
  resumedFromByte: number;
  /** Batches committed by this attempt. */
  batches: number;
  durationMs: number;
}

interface ChunkRow {
  byte_start: string;
  byte_end: string;
  byte_done: string;
  rows_read: string;
  rows_loaded: string;
  rows_rejected: string;
  lines_done: string;
  status: 'pending' | 'loading' | 'done' | 'stopped';
  batches: number;
}

function toResult(plan: LoadPlan, chunk: number, row: ChunkRow, resumed: Checkpoint, batches: number, started: number): ChunkResult {
  return {
    source: plan.source,
    chunk,
    status: row.status === 'stopped' ? 'stopped' : 'done',
    rowsRead: Number(row.rows_read),
    rowsLoaded: Number(row.rows_loaded),
    rowsRejected: Number(row.rows_rejected),
    byteStart: Number(row.byte_start),
    byteEnd: Number(row.byte_end),
    resumedFromRow: resumed.rowsRead,
    resumedFromByte: resumed.byteDone,
    batches,
    durationMs: Date.now() - started,
  };
}

/** Fails the load when the file is no longer the one planned (replaced, grown, truncated, or re-pointed by a symlink). */
async function assertUnchanged(plan: LoadPlan, sourcePath: string): Promise<void> {
  let st;
  let real;
  try {
    [st, real] = await Promise.all([stat(sourcePath), realpath(sourcePath)]);
  } catch {
    throw new InputError('SourceFileMissing', `source file ${plan.file} disappeared while being loaded`, { file: plan.file });
  }
  if (real !== plan.path || st.size !== plan.sizeBytes || st.mtimeMs !== plan.mtimeMs) {
    throw new InputError('SourceFormatError', `${plan.file}: changed while being loaded (size or modification time differs from the plan); run the load again`, {
      file: plan.file,
    });
  }
}

/** The chunk's claim: this attempt's token; returns the committed checkpoint. */
async function claim(pool: Pool, plan: LoadPlan, chunk: number, token: string): Promise<ChunkRow> {
  const { rows } = await pool.query<ChunkRow>(
    `UPDATE ops.load_chunks
        SET owner_token = $4, attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now(),
            status = CASE WHEN status IN ('done', 'stopped') THEN status ELSE 'loading' END
      WHERE run_id = $1 AND source = $2 AND chunk = $3
      RETURNING byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, lines_done, status, batches`,
    [plan.runId, plan.source, chunk, token],
  );
  if (!rows[0]) throw new Error(`load of ${plan.source} in run ${plan.runId} has no chunk ${chunk} (was it discarded?)`);
  return rows[0];
}

/**
 * Loads one chunk of a planned load (resuming from its committed checkpoint). Returns at once with the stored
 * outcome when the chunk is already finished, so a retried or duplicated activity does no harm.
 */
export async function loadChunk(pool: Pool, spec: SourceSpec, runId: string, chunk: number, opts: ChunkOptions = {}): Promise<ChunkResult> {
  const started = Date.now();
  const plan = await readPlan(pool, runId, spec.name);
  if (!plan) throw new Error(`no load planned for source ${spec.name} in run ${runId}`);
  if (plan.status === 'published') {
    // a late duplicate of a chunk activity: report what was done
    const { rows } = await pool.query<ChunkRow>(
      `SELECT byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, status, batches FROM ops.load_chunks WHERE run_id = $1 AND source = $2 AND chunk = $3`,
      [plan.runId, plan.source, chunk],
    );
    if (rows[0]) return toResult(plan, chunk, rows[0], { byteDone: Number(rows[0].byte_done), rowsRead: Number(rows[0].rows_read), rowsLoaded: 0, rowsRejected: 0 }, 0, started);
  }
  if (plan.status !== 'loading') {
    throw new LoadNotActiveError(`the load of ${spec.name} in run ${runId} is ${plan.status}; chunk ${chunk} has nothing to do`);
  }
  const token = randomUUID();
  const row = await claim(pool, plan, chunk, token);
  const resumed: Checkpoint = {
    byteDone: Number(row.byte_done),
    rowsRead: Number(row.rows_read),
    rowsLoaded: Number(row.rows_loaded),
    rowsRejected: Number(row.rows_rejected),
    linesDone: Number(row.lines_done),
  };
  if (row.status === 'done' || row.status === 'stopped') return toResult(plan, chunk, row, resumed, 0, started);

  const budget = parseRejectBudget(plan.rejectBudget);
  if (certainlyOverBudget(budget, await rejectedSoFar(pool, plan))) {
    // another chunk already blew the budget: the load will fail, reading on would be wasted work
    const stopped = await pool.query<ChunkRow>(
      `UPDATE ops.load_chunks SET status = 'stopped', finished_at = now(), updated_at = now()
        WHERE run_id = $1 AND source = $2 AND chunk = $3 AND owner_token = $4
        RETURNING byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, status, batches`,
      [plan.runId, plan.source, chunk, token],
    );
    if (stopped.rows[0]) return toResult(plan, chunk, stopped.rows[0], resumed, 0, started);
  }
  const beat = (cp: Checkpoint, batches: number) =>
    opts.heartbeat?.({
      phase: 'loading',
      source: plan.source,
      chunk,
      committedRows: cp.rowsRead,
      byteOffset: cp.byteDone,
      rowsLoaded: cp.rowsLoaded,
      rowsRejected: cp.rowsRejected,
      resumedFromRow: resumed.rowsRead,
      resumedFromByte: resumed.byteDone,
      batches,
    });
  beat(resumed, 0);
  const fromDb = plan.dbRead !== undefined;
  if (!fromDb) await assertUnchanged(plan, plan.path);

  return withClient(pool, async (client) => {
    const run = fromDb ? loadDbBatches : plan.format === 'csv' ? loadCsvBatches : loadRecordBatches;
    const outcome = await run(client, pool, spec, plan, chunk, token, resumed, { ...opts, heartbeat: undefined }, budget, (cp, n) => beat(cp, n));
    const final = await pool.query<ChunkRow>(
      `SELECT byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, status, batches FROM ops.load_chunks WHERE run_id = $1 AND source = $2 AND chunk = $3`,
      [plan.runId, plan.source, chunk],
    );
    return toResult(plan, chunk, final.rows[0]!, resumed, outcome.batches, started);
  });
}
