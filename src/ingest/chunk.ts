import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { open, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool, PoolClient } from '../db';
import { InputError } from '../errors';
import { readerFor } from '../sources/readers';
import type { RawRecord, SourceSpec } from '../sources/types';
import { validateRecord } from '../sources/validate';
import { certainlyOverBudget, parseRejectBudget } from './budget';
import { copyTextLine, csvField, jsonForPg, textArrayLiteral } from './encode';
import { withClient } from '../db';
import { copySql } from './landing';
import type { LoadPlan } from './plan';
import { MAX_RECORD_BYTES, readPlan } from './plan';
import type { RejectedRow } from './rows';
import { CsvRowProcessor, csvLayout, rejectFromErrors } from './rows';

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
  status: 'pending' | 'loading' | 'done' | 'stopped';
  batches: number;
}

interface Checkpoint {
  byteDone: number;
  rowsRead: number;
  rowsLoaded: number;
  rowsRejected: number;
}

const MAX_REJECTS_PER_BATCH = 10_000;

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

/** Writes to a COPY stream, honouring backpressure. */
async function write(stream: Writable, piece: Buffer): Promise<void> {
  if (!stream.write(piece)) await once(stream, 'drain');
}

/** Appends rejected rows to ops.rejected_rows with COPY (text format: every value escaped, nothing interpolated). */
async function copyRejects(client: PoolClient, plan: LoadPlan, chunk: number, rejects: readonly RejectedRow[]): Promise<void> {
  if (rejects.length === 0) return;
  const stream = client.query(copyFrom(`COPY ops.rejected_rows (run_id, source, file, chunk, chunk_row, raw, errors, kinds) FROM STDIN`));
  const done = finished(stream);
  let text = '';
  for (const r of rejects) {
    text += copyTextLine([plan.runId, plan.source, plan.file, chunk, r.row, jsonForPg(r.raw), textArrayLiteral(r.errors), textArrayLiteral(r.kinds)]);
    if (text.length > 256 * 1024) {
      await write(stream, Buffer.from(text, 'utf8'));
      text = '';
    }
  }
  if (text) await write(stream, Buffer.from(text, 'utf8'));
  stream.end();
  await done;
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
      RETURNING byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, status, batches`,
    [plan.runId, plan.source, chunk, token],
  );
  if (!rows[0]) throw new Error(`load of ${plan.source} in run ${plan.runId} has no chunk ${chunk} (was it discarded?)`);
  return rows[0];
}

/** Total rows rejected so far by every chunk of the load (committed). */
async function rejectedSoFar(pool: Pool | PoolClient, plan: LoadPlan): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT coalesce(sum(rows_rejected), 0) AS n FROM ops.load_chunks WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
  return Number(rows[0]!.n);
}

/** Commits a batch's checkpoint, if this attempt still owns the chunk and nobody moved the checkpoint meanwhile. */
async function advance(client: PoolClient, plan: LoadPlan, chunk: number, token: string, from: Checkpoint, to: Checkpoint, status: string): Promise<void> {
  const res = await client.query(
    `UPDATE ops.load_chunks
        SET byte_done = $6, rows_read = $7, rows_loaded = $8, rows_rejected = $9, status = $10, batches = batches + 1,
            finished_at = CASE WHEN $10 IN ('done', 'stopped') THEN now() END, updated_at = now()
      WHERE run_id = $1 AND source = $2 AND chunk = $3 AND owner_token = $4 AND byte_done = $5 AND rows_read = $11`,
    [plan.runId, plan.source, chunk, token, from.byteDone, to.byteDone, to.rowsRead, to.rowsLoaded, to.rowsRejected, status, from.rowsRead],
  );
  if (res.rowCount !== 1) throw new Error(`chunk ${chunk} of ${plan.source} was taken over by another attempt; this attempt stops`);
  await client.query(`UPDATE ops.load_plans SET updated_at = now() WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
}

/** The running COPY of the current batch. */
interface OpenCopy {
  stream: Writable;
  done: Promise<void>;
  error?: Error;
}

function openCopy(client: PoolClient, plan: LoadPlan): OpenCopy {
  const stream = client.query(copyFrom(copySql(plan.landingTable, plan.copyColumns, plan.mode === 'rowkeys')));
  const copy: OpenCopy = { stream, done: finished(stream) };
  copy.done.catch(() => undefined); // surfaced by closeCopy
  stream.on('error', (err) => (copy.error = err));
  return copy;
}

async function closeCopy(copy: OpenCopy): Promise<void> {
  if (copy.error) throw copy.error;
  copy.stream.end();
  await copy.done;
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
  await assertUnchanged(plan, plan.path);

  return withClient(pool, async (client) => {
    const run = plan.format === 'csv' ? loadCsvBatches : loadRecordBatches;
    const outcome = await run(client, pool, spec, plan, chunk, token, resumed, { ...opts, heartbeat: undefined }, budget, (cp, n) => beat(cp, n));
    const final = await pool.query<ChunkRow>(
      `SELECT byte_start, byte_end, byte_done, rows_read, rows_loaded, rows_rejected, status, batches FROM ops.load_chunks WHERE run_id = $1 AND source = $2 AND chunk = $3`,
      [plan.runId, plan.source, chunk],
    );
    return toResult(plan, chunk, final.rows[0]!, resumed, outcome.batches, started);
  });
}

type BatchRunner = (
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

/** Reads a byte range of the file into fresh buffers (pieces handed to COPY point into them). */
class RangeReader {
  private position: number;
  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
    private readonly blockBytes: number,
  ) {
    this.position = start;
  }
  get done(): boolean {
    return this.position >= this.end;
  }
  /** The next bytes, after `carry` (the unprocessed tail of the previous block). */
  async next(carry: Buffer): Promise<{ buf: Buffer; fileOffset: number; last: boolean }> {
    const want = Math.min(this.blockBytes, this.end - this.position);
    const buf = Buffer.allocUnsafe(carry.length + want);
    carry.copy(buf, 0);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, carry.length + got, want - got, this.position + got);
      if (bytesRead === 0) throw new InputError('SourceFormatError', `file shrank while being loaded (at byte ${this.position + got})`);
      got += bytesRead;
    }
    const fileOffset = this.position - carry.length;
    this.position += want;
    return { buf, fileOffset, last: this.position >= this.end };
  }
}

const loadCsvBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const batchBytes = opts.batchBytes ?? 16 * 1024 * 1024;
  const batchMs = opts.batchMs ?? 2000;
  const byteEnd = plan.chunks[chunk]!.byteEnd;
  const processor = new CsvRowProcessor(csvLayout(spec, plan.header, plan.file), plan.mode === 'rowkeys' ? chunk : undefined);
  processor.rowsRead = from.rowsRead;
  processor.rowsLoaded = from.rowsLoaded;
  processor.rowsRejected = from.rowsRejected;

  const fh = await open(plan.path, 'r');
  let committed = from;
  let batches = 0;
  try {
    const reader = new RangeReader(fh, from.byteDone, byteEnd, opts.readBytes ?? 4 * 1024 * 1024);
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    let fileOffset = from.byteDone; // file offset of buf[0]
    let last = reader.done;
    let eof = reader.done;
    while (!eof) {
      const batchStarted = Date.now();
      const batchFrom = committed;
      const room = budget.kind === 'rows' ? Math.max(1, budget.rows + 1 - (await rejectedSoFar(pool, plan))) : MAX_REJECTS_PER_BATCH;
      const maxRejects = Math.min(MAX_REJECTS_PER_BATCH, room);
      await client.query('BEGIN');
      processor.startCopy();
      const copy = openCopy(client, plan);
      let batchBytesDone = 0;
      try {
        for (;;) {
          opts.signal?.throwIfAborted();
          if (copy.error) throw copy.error;
          if (bufStart < buf.length) {
            const consumed = processor.process(buf, bufStart, buf.length, last, fileOffset, maxRejects);
            for (const piece of processor.pieces) await write(copy.stream, piece);
            processor.pieces = [];
            processor.pieceBytes = 0;
            batchBytesDone += consumed - bufStart;
            bufStart = consumed;
          }
          if (last && bufStart >= buf.length) {
            eof = true;
            break;
          }
          if (processor.rejects.length >= maxRejects) break;
          if (batchBytesDone >= batchBytes || Date.now() - batchStarted >= batchMs) break;
          // the buffer is used up, or holds only the start of a record: read on behind it
          const carry = buf.subarray(bufStart);
          if (carry.length > MAX_RECORD_BYTES) {
            throw new InputError(
              'SourceFormatError',
              `${plan.file}: the record after row ${processor.rowsRead} of chunk ${chunk} (byte offset ${fileOffset + bufStart}) is longer than ` +
                `${MAX_RECORD_BYTES} bytes: an unclosed quote?`,
              { file: plan.file },
            );
          }
          const next = await reader.next(carry);
          buf = next.buf;
          bufStart = 0;
          fileOffset = next.fileOffset;
          last = next.last;
        }
        await closeCopy(copy);
      } catch (err) {
        copy.stream.destroy(err as Error);
        await client.query('ROLLBACK').catch(() => undefined);
        throw translateCopyError(err, plan);
      }
      const to: Checkpoint = {
        byteDone: eof ? byteEnd : fileOffset + bufStart,
        rowsRead: processor.rowsRead,
        rowsLoaded: processor.rowsLoaded,
        rowsRejected: processor.rowsRejected,
      };
      const overBudget = await commitBatch(client, plan, chunk, token, batchFrom, to, processor.rejects, budget, eof);
      committed = to;
      batches++;
      beat(committed, batches);
      if (overBudget) break;
      if (opts.failAfterBatches !== undefined && batches >= opts.failAfterBatches && !eof) {
        throw new Error(`fault injected after ${batches} batch(es) of chunk ${chunk}`);
      }
    }
    if (batches === 0) {
      // nothing to read (an empty range, e.g. a header-only file, or a checkpoint already at the end)
      await client.query('BEGIN');
      await advance(client, plan, chunk, token, committed, { ...committed, byteDone: byteEnd }, 'done');
      await client.query('COMMIT');
    }
  } finally {
    await fh.close();
  }
  return { batches };
};

/**
 * Second half of a batch's transaction (the COPY is done): its rejected rows and the chunk's new checkpoint, then
 * COMMIT. Returns true when the load is now certainly over its reject budget (the chunk is marked 'stopped').
 */
async function commitBatch(
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

/** Excel, JSON, Parquet: the reader's records, validated one by one, in batches; a retry skips committed records. */
const loadRecordBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const batchRows = 50_000;
  const batchMs = opts.batchMs ?? 2000;
  const rowKeys = plan.mode === 'rowkeys';
  const kinds = plan.copyColumns.map((c) => spec.columns[c]!.kind);
  const dateColumns = plan.header.filter((_h, i) => kinds[i] === 'date' || kinds[i] === 'timestamp');
  const stream = await readerFor(plan.format)(plan.path, { sheet: spec.sheet, displayName: plan.file, dateColumns });
  const it = stream.records[Symbol.asyncIterator]();
  let committed = from;
  let batches = 0;
  let skipped = 0;
  try {
    let eof = false;
    while (!eof) {
      const batchFrom = committed;
      const batchStarted = Date.now();
      const room = budget.kind === 'rows' ? Math.max(1, budget.rows + 1 - (await rejectedSoFar(pool, plan))) : MAX_REJECTS_PER_BATCH;
      const maxRejects = Math.min(MAX_REJECTS_PER_BATCH, room);
      let rowsRead = committed.rowsRead;
      let rowsLoaded = committed.rowsLoaded;
      let rowsRejected = committed.rowsRejected;
      const rejects: RejectedRow[] = [];
      await client.query('BEGIN');
      const copy = openCopy(client, plan);
      try {
        let text = '';
        let n = 0;
        for (;;) {
          opts.signal?.throwIfAborted();
          if (copy.error) throw copy.error;
          const next = await it.next();
          if (next.done) {
            eof = true;
            break;
          }
          if (skipped < from.rowsRead) {
            skipped++; // committed by an earlier attempt
            continue;
          }
          const record: RawRecord = next.value;
          rowsRead++;
          const result = validateRecord(spec, record);
          if (result.ok) {
            let line = '';
            for (let k = 0; k < plan.copyColumns.length; k++) {
              if (k > 0) line += ',';
              line += csvField(result.row[plan.copyColumns[k]!], kinds[k]);
            }
            if (rowKeys) line += `,${chunk},${record.row}`;
            text += line + '\n';
            rowsLoaded++;
            if (text.length > 256 * 1024) {
              await write(copy.stream, Buffer.from(text, 'utf8'));
              text = '';
            }
          } else {
            rejects.push(rejectFromErrors(record.row, record.values, result.errors));
            rowsRejected++;
          }
          n++;
          if (rejects.length >= maxRejects || n >= batchRows || Date.now() - batchStarted >= batchMs) break;
        }
        if (text) await write(copy.stream, Buffer.from(text, 'utf8'));
        await closeCopy(copy);
      } catch (err) {
        copy.stream.destroy(err as Error);
        await client.query('ROLLBACK').catch(() => undefined);
        throw translateCopyError(err, plan);
      }
      const to: Checkpoint = { byteDone: eof ? plan.chunks[chunk]!.byteEnd : committed.byteDone, rowsRead, rowsLoaded, rowsRejected };
      const overBudget = await commitBatch(client, plan, chunk, token, batchFrom, to, rejects, budget, eof);
      committed = to;
      batches++;
      beat(committed, batches);
      if (overBudget) break;
      if (opts.failAfterBatches !== undefined && batches >= opts.failAfterBatches && !eof) {
        throw new Error(`fault injected after ${batches} batch(es) of chunk ${chunk}`);
      }
    }
  } finally {
    await it.return?.();
  }
  return { batches };
};

/** A COPY that PostgreSQL refused is a bug or a database problem, except for what bad input can still cause. */
function translateCopyError(err: unknown, plan: LoadPlan): unknown {
  const pgErr = err as { code?: string; message?: string; where?: string };
  // 22xxx: data exceptions (a value PostgreSQL would not take although validation passed: e.g. numeric overflow)
  if (typeof pgErr.code === 'string' && pgErr.code.startsWith('22')) {
    return new InputError('SourceFormatError', `${plan.file}: PostgreSQL refused a value: ${pgErr.message ?? ''}${pgErr.where ? ` (${pgErr.where})` : ''}`, {
      file: plan.file,
    });
  }
  return err;
}

