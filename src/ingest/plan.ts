import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Pool, PoolClient } from '../db';
import { InputError } from '../errors';
import { withTransaction } from '../db';
import { readerFor } from '../sources/readers';
import { firstInvalidUtf8 } from '../sources/readers/csv';
import type { SourceSpec } from '../sources/types';
import { checkHeader, fileColumns } from '../sources/validate';
import { effectiveBudget, formatRejectBudget } from './budget';
import { BOM, F_BAD_QUOTE, F_CTRL, F_UNTERMINATED, LF, QUOTE, RecordScanner, headerNames } from './csv-scan';
import { LANDING_SCHEMA, landingDDL, landingTableName, qualifiedLanding } from './landing';
import { resolveSourceFile } from './paths';

export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
/** A single record (a line, or a quoted field spanning lines) longer than this is treated as broken quoting. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
const READ_BYTES = 4 * 1024 * 1024;

export interface ChunkRange {
  chunk: number;
  byteStart: number;
  byteEnd: number;
}

/** Everything a chunk and the publish step need to know about a load. Stored in ops.load_plans; small. */
export interface LoadPlan {
  runId: string;
  source: string;
  dataset: string;
  /** The file as named in the registry (what messages show). */
  file: string;
  /** Resolved absolute path (symlinks followed) the worker reads. */
  path: string;
  format: SourceSpec['format'];
  sizeBytes: number;
  mtimeMs: number;
  sha256: string;
  /** Column names in file order, as the file has them. */
  header: string[];
  /** Staging column names in file order. */
  copyColumns: string[];
  landingTable: string;
  rejectBudget: string;
  mode: 'plain' | 'rowkeys';
  status: 'loading' | 'published' | 'failed' | 'abandoned';
  chunks: ChunkRange[];
}

export interface PlanOptions {
  runId: string;
  workflowId?: string;
  dataset: string;
  /** The run's override of the source's reject budget ("N" or "P%"). */
  rejectBudget?: string;
  /** Target chunk size for CSV files (default 64 MiB); smaller files load as one chunk. */
  chunkBytes?: number;
  /** Confine source paths to this directory (GUDANG_SOURCE_ROOT). */
  sourceRoot?: string;
  /** Landing tables of loads idle this long are dropped when the next plan runs (default 24 h). */
  staleAfterMs?: number;
  heartbeat?: (details: Record<string, unknown>) => void;
}

const formatError = (file: string, message: string, details: Record<string, unknown> = {}) =>
  new InputError('SourceFormatError', `${file}: ${message}`, { file, ...details });

/** What the first bytes say a file is, when it is clearly not CSV text. */
function sniffNotText(head: Buffer): string | undefined {
  const starts = (s: string) => head.subarray(0, s.length).equals(Buffer.from(s, 'latin1'));
  if (starts('PK\u0003\u0004')) return 'is a zip archive (an Excel .xlsx workbook?), not CSV text';
  if (starts('PAR1')) return 'is a Parquet file, not CSV text';
  if (starts('%PDF')) return 'is a PDF document, not CSV text';
  if (starts('\u00d0\u00cf\u0011\u00e0')) return 'is an old Excel/Office (.xls) file, not CSV text';
  if (starts('\u00ff\u00fe') || starts('\u00fe\u00ff')) return 'is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8';
  const nul = head.indexOf(0);
  if (nul !== -1) return `contains a NUL byte at byte offset ${nul}: this looks like a binary file, not UTF-8 CSV text`;
  return undefined;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** Reads and checks a CSV file's header: returns the names and the byte offset where the data starts. */
export async function probeCsvHeader(path: string, file: string, size: number): Promise<{ header: string[]; dataStart: number }> {
  if (size === 0) throw formatError(file, 'is empty: expected a header row');
  const fh = await open(path, 'r');
  try {
    let length = Math.min(size, 64 * 1024);
    for (;;) {
      const buf = await readAt(fh, 0, length);
      const notText = sniffNotText(buf);
      if (notText) throw formatError(file, notText);
      const last = buf.length >= size;
      let p = buf.subarray(0, 3).equals(BOM) ? 3 : 0;
      const scanner = new RecordScanner(4096);
      let next = -1;
      // the header is the first non-blank line
      for (;;) {
        next = scanner.scan(buf, p, buf.length, last);
        if (next < 0 || scanner.contentEnd > p || scanner.fields > 1) break;
        if (next >= buf.length) break;
        p = next;
      }
      if (next < 0) {
        if (length >= MAX_RECORD_BYTES) throw formatError(file, `has no line end in its first ${MAX_RECORD_BYTES} bytes: not a CSV file (or an unclosed quote in the header)`);
        length = Math.min(size, length * 4);
        continue;
      }
      if (scanner.contentEnd === p && scanner.fields === 1) throw formatError(file, 'is empty: expected a header row');
      const record = buf.subarray(p, next);
      if (!isUtf8(record)) {
        throw formatError(file, `is not valid UTF-8 text (header row, byte offset ${p + Math.max(0, firstInvalidUtf8(record))}): save it as UTF-8`);
      }
      if (scanner.flags & (F_UNTERMINATED | F_BAD_QUOTE)) throw formatError(file, 'has a badly quoted header row');
      if (scanner.flags & F_CTRL && record.includes(13)) {
        throw formatError(file, 'uses bare CR line ends (old Mac format), or has a carriage return inside the header: convert it to LF or CRLF line ends');
      }
      if (scanner.fields > scanner.capacity) throw formatError(file, `has ${scanner.fields} columns in its header: too many`);
      return { header: headerNames(buf, scanner), dataStart: next };
    }
  } finally {
    await fh.close();
  }
}

/** sha256 of the file, and whether it contains any double quote (which makes chunk boundaries need a real scan). */
async function hashFile(path: string, size: number, heartbeat?: PlanOptions['heartbeat']): Promise<{ sha256: string; quotes: boolean }> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  let quotes = false;
  let position = 0;
  let lastBeat = Date.now();
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_BYTES, position);
      if (bytesRead === 0) break;
      const part = buf.subarray(0, bytesRead);
      hash.update(part);
      if (!quotes && part.indexOf(QUOTE) !== -1) quotes = true;
      position += bytesRead;
      if (heartbeat && Date.now() - lastBeat > 1000) {
        heartbeat({ phase: 'planning', hashedBytes: position, sizeBytes: size });
        lastBeat = Date.now();
      }
    }
  } finally {
    await fh.close();
  }
  if (position !== size) throw formatError(path, `changed while being read (${position} bytes read, ${size} expected)`);
  return { sha256: hash.digest('hex'), quotes };
}

/**
 * Cuts the data part of a CSV file, [dataStart, size), into chunks of about `chunkBytes`, each starting at a record
 * start. Without any quote in the file a record starts after every line feed. With quotes, the file is scanned record
 * by record from the data start with the loader's own scanner, so a line break inside a quoted field is never a cut.
 */
export async function planCsvChunks(path: string, size: number, dataStart: number, chunkBytes: number, quotes: boolean): Promise<ChunkRange[]> {
  const targets: number[] = [];
  for (let t = dataStart + chunkBytes; t < size; t += chunkBytes) targets.push(t);
  const cuts: number[] = [];
  const fh = await open(path, 'r');
  try {
    if (!quotes) {
      for (const target of targets) {
        // a record starts right after the first line feed at or after target - 1
        let found = -1;
        for (let pos = target - 1; pos < size && found < 0; pos += 64 * 1024) {
          const buf = await readAt(fh, pos, Math.min(64 * 1024, size - pos));
          const i = buf.indexOf(LF);
          if (i >= 0) found = pos + i + 1;
        }
        if (found > 0 && found < size && (cuts.length === 0 || found > cuts[cuts.length - 1]!)) cuts.push(found);
      }
    } else {
      const scanner = new RecordScanner(0);
      let t = 0;
      let base = dataStart; // file offset of buf[0]
      let buf = Buffer.alloc(0);
      let p = 0;
      while (t < targets.length && base + p < size) {
        // refill: keep the unprocessed tail, append the next block
        const tail = buf.subarray(p);
        if (tail.length > MAX_RECORD_BYTES) throw formatError(path, `has a record longer than ${MAX_RECORD_BYTES} bytes at byte offset ${base + p}: an unclosed quote?`);
        const more = await readAt(fh, base + buf.length, Math.min(READ_BYTES, size - base - buf.length));
        base += p;
        buf = Buffer.concat([tail, more]);
        p = 0;
        const last = base + buf.length >= size;
        for (;;) {
          const next = scanner.scan(buf, p, buf.length, last);
          if (next < 0) break;
          p = next;
          while (t < targets.length && base + p >= targets[t]!) {
            if (base + p < size && (cuts.length === 0 || base + p > cuts[cuts.length - 1]!)) cuts.push(base + p);
            t++;
          }
          if (p >= buf.length) break;
        }
      }
    }
  } finally {
    await fh.close();
  }
  const bounds = [dataStart, ...cuts, size];
  const chunks: ChunkRange[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) chunks.push({ chunk: k, byteStart: bounds[k]!, byteEnd: bounds[k + 1]! });
  return chunks;
}

interface PlanRow {
  run_id: string;
  source: string;
  dataset: string;
  file: string;
  path: string;
  format: SourceSpec['format'];
  size_bytes: number;
  mtime_ms: number;
  sha256: string;
  header: string[];
  copy_columns: string[];
  landing_table: string;
  reject_budget: string;
  mode: 'plain' | 'rowkeys';
  status: LoadPlan['status'];
}

/** The stored plan of (run, source), with its chunks; undefined when there is none. */
export async function readPlan(db: Pool | PoolClient, runId: string, source: string): Promise<LoadPlan | undefined> {
  const { rows } = await db.query<PlanRow>(`SELECT * FROM ops.load_plans WHERE run_id = $1 AND source = $2`, [runId, source]);
  const r = rows[0];
  if (!r) return undefined;
  const chunks = await db.query<{ chunk: number; byte_start: string; byte_end: string }>(
    `SELECT chunk, byte_start, byte_end FROM ops.load_chunks WHERE run_id = $1 AND source = $2 ORDER BY chunk`,
    [runId, source],
  );
  return {
    runId: r.run_id,
    source: r.source,
    dataset: r.dataset,
    file: r.file,
    path: r.path,
    format: r.format,
    sizeBytes: Number(r.size_bytes),
    mtimeMs: Number(r.mtime_ms),
    sha256: r.sha256,
    header: r.header,
    copyColumns: r.copy_columns,
    landingTable: r.landing_table,
    rejectBudget: r.reject_budget,
    mode: r.mode,
    status: r.status,
    chunks: chunks.rows.map((c) => ({ chunk: c.chunk, byteStart: Number(c.byte_start), byteEnd: Number(c.byte_end) })),
  };
}

/** Drops a plan's landing table (if still there) and removes the plan, its chunks and its rejected rows. */
async function forgetPlan(client: PoolClient, plan: LoadPlan): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${qualifiedLanding(plan.landingTable)}`);
  await client.query(`DELETE FROM ops.rejected_rows WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
  await client.query(`DELETE FROM ops.load_plans WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
}

/**
 * Drops landing tables nobody will publish: those of loads idle for `staleAfterMs` (their run died without cleaning
 * up: worker killed for good, workflow terminated), and those of failed or abandoned loads that are still there
 * (a discard that did not get through). Rejected rows stay. A landing table without any plan is left alone: plan and
 * table are created in one transaction, so such a table can only be one whose plan this query cannot see yet.
 */
export async function sweepLandingTables(pool: Pool, staleAfterMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ run_id: string; source: string; landing_table: string; status: string }>(
    `SELECT p.run_id, p.source, p.landing_table, p.status FROM ops.load_plans p
      WHERE (p.status IN ('failed', 'abandoned') AND to_regclass(format('%I.%I', $2::text, p.landing_table)) IS NOT NULL)
         OR (p.status = 'loading'
             AND p.updated_at < now() - make_interval(secs => $1::double precision / 1000)
             AND NOT EXISTS (SELECT 1 FROM ops.load_chunks c WHERE c.run_id = p.run_id AND c.source = p.source
                               AND c.updated_at >= now() - make_interval(secs => $1::double precision / 1000)))`,
    [staleAfterMs, LANDING_SCHEMA],
  );
  const dropped: string[] = [];
  for (const r of rows) {
    await withTransaction(pool, async (client) => {
      await client.query(`DROP TABLE IF EXISTS ${qualifiedLanding(r.landing_table)}`);
      await client.query(`UPDATE ops.load_plans SET status = 'abandoned', updated_at = now() WHERE run_id = $1 AND source = $2 AND status = 'loading'`, [r.run_id, r.source]);
    });
    dropped.push(r.landing_table);
  }
  return dropped;
}

/**
 * Plans the load of one source file for one run: resolves and checks the path, checks the header, hashes the file,
 * cuts it into chunks, and creates the empty landing table, all recorded in ops.load_plans / ops.load_chunks.
 * Idempotent: a retried plan for the same run and an unchanged file returns the stored plan (chunks already
 * committed stay committed); a changed file is planned afresh.
 */
export async function planLoad(pool: Pool, spec: SourceSpec, sourceDir: string, opts: PlanOptions): Promise<LoadPlan> {
  const file = spec.file;
  const path = await resolveSourceFile(sourceDir, file, opts.sourceRoot);
  const st = await stat(path);
  const budget = formatRejectBudget(effectiveBudget(spec.rejectBudget, opts.rejectBudget));

  const existing = await readPlan(pool, opts.runId, spec.name);
  if (existing) {
    const same = existing.path === path && existing.sizeBytes === st.size && existing.mtimeMs === st.mtimeMs;
    if (existing.status === 'published' || (existing.status === 'loading' && same)) return existing;
    await withTransaction(pool, (client) => forgetPlan(client, existing));
  }

  // The header first: a wrong file fails before it is hashed.
  let header: string[];
  let dataStart = 0;
  if (spec.format === 'csv') {
    ({ header, dataStart } = await probeCsvHeader(path, file, st.size));
  } else {
    const stream = await readerFor(spec.format)(path, { sheet: spec.sheet, displayName: file });
    header = stream.header;
    const it = stream.records[Symbol.asyncIterator]();
    await it.return?.();
  }
  checkHeader(spec, header, file);
  const byHeader = new Map(fileColumns(spec).map((c) => [c.header, c.name]));
  const copyColumns = header.map((h) => byHeader.get(h)!);

  opts.heartbeat?.({ phase: 'planning', hashedBytes: 0, sizeBytes: st.size });
  const { sha256, quotes } = await hashFile(path, st.size, opts.heartbeat);
  const chunkBytes = Math.max(1, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const chunks =
    spec.format === 'csv'
      ? await planCsvChunks(path, st.size, dataStart, chunkBytes, quotes)
      : [{ chunk: 0, byteStart: 0, byteEnd: st.size }];

  await sweepLandingTables(pool, opts.staleAfterMs ?? 24 * 3600_000);

  const plan: LoadPlan = {
    runId: opts.runId,
    source: spec.name,
    dataset: opts.dataset,
    file,
    path,
    format: spec.format,
    sizeBytes: st.size,
    mtimeMs: st.mtimeMs,
    sha256,
    header,
    copyColumns,
    landingTable: landingTableName(spec.name, opts.runId),
    rejectBudget: budget,
    mode: 'plain',
    status: 'loading',
    chunks,
  };
  await withTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO ops.load_plans (run_id, source, dataset, workflow_id, file, path, format, size_bytes, mtime_ms, sha256, header,
                                   copy_columns, landing_table, reject_budget)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        plan.runId,
        plan.source,
        plan.dataset,
        opts.workflowId ?? '',
        file,
        path,
        plan.format,
        plan.sizeBytes,
        plan.mtimeMs,
        sha256,
        JSON.stringify(header),
        JSON.stringify(copyColumns),
        plan.landingTable,
        budget,
      ],
    );
    await client.query(
      `INSERT INTO ops.load_chunks (run_id, source, chunk, byte_start, byte_end, byte_done)
       SELECT $1, $2, c, s, e, s FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS t(c, s, e)`,
      [plan.runId, plan.source, chunks.map((c) => c.chunk), chunks.map((c) => c.byteStart), chunks.map((c) => c.byteEnd)],
    );
    await client.query(`DROP TABLE IF EXISTS ${qualifiedLanding(plan.landingTable)}`);
    await client.query(landingDDL(spec, plan.landingTable));
  });
  return plan;
}
