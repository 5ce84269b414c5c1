import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { Pool, PoolClient } from '../db';
import { withTransaction } from '../db';
import { readerFor } from '../sources/readers';
import { formatError } from '../sources/readers/common';
import type { SourceDbKind } from '../sources/database';
import type { SourceSpec } from '../sources/types';
import type { DbRead } from './db/read';
import { checkHeader, fileColumns } from '../sources/validate';
import { effectiveBudget, formatRejectBudget } from './budget';
import { CsvCutFinder, probeCsvHeader } from './csv/plan';
import { LANDING_SCHEMA, landingDDL, landingTableName, qualifiedLanding } from './landing';
import { locateSourceFile } from '../sources/remote';
import { BlockHasher, VERIFY_BLOCK_BYTES } from './verify';

export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

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
  /** The file's format, or the kind of source database ('postgres', 'mariadb') for a table (src/ingest/db/). */
  format: SourceSpec['format'] | SourceDbKind;
  sizeBytes: number;
  mtimeMs: number;
  /**
   * sha256 of the whole file as read while planning (a database table: of its read). It is also the hash of the
   * bytes loaded: chunks and readers read only bytes whose block matches `blockSha256` (src/ingest/verify.ts).
   */
  sha256: string;
  /** Files: the size of the blocks of `blockSha256`; absent for database tables (and plans made before block hashes). */
  verifyBlockBytes?: number;
  /** Files: sha256 of each block [k * verifyBlockBytes, (k + 1) * verifyBlockBytes) of the file, 32 bytes each. */
  blockSha256?: Buffer;
  /** Column names in file order, as the file has them. */
  header: string[];
  /** Staging column names in file order. */
  copyColumns: string[];
  landingTable: string;
  rejectBudget: string;
  mode: 'plain' | 'rowkeys';
  status: 'loading' | 'published' | 'failed' | 'abandoned';
  /** CSV: the line number of the first byte of the data (after the header and any blank lines before it); else 1. */
  firstLine?: number;
  /** Chunks: byte ranges of a file, or primary-key ranges [byteStart, byteEnd) of a database table. */
  chunks: ChunkRange[];
  /** Where the file came from: a remote file's URI, else the local path. */
  sourceUri: string;
  /** A remote file's ETag or revision. */
  etag?: string;
  /** The remote source folder (a chunk on another worker fetches the file again from it); absent for local files. */
  remoteSourceDir?: string;
  /** A database table's read (which table, period, watermark); absent for files. */
  dbRead?: DbRead;
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
  /** Block size of a file's block hashes (default VERIFY_BLOCK_BYTES, 1 MiB; tests use smaller ones). */
  verifyBlockBytes?: number;
  heartbeat?: (details: Record<string, unknown>) => void;
}

const READ_BYTES = 4 * 1024 * 1024;

/** Line ends (LF) in `buf` (a CSV header: small). */
function countLineEnds(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * sha256 of the file, of each of its blocks of `blockBytes` (when given), whether it contains any double quote
 * (which makes chunk boundaries need a real scan), and its first `headBytes` bytes. One read of the file.
 */
async function hashFile(
  path: string,
  size: number,
  blockBytes: number | undefined,
  headBytes: number,
  heartbeat?: PlanOptions['heartbeat'],
  /** Sees every byte hashed, in order (the CSV chunk cuts are found in them). */
  onBytes?: (part: Buffer, position: number) => void,
): Promise<{ sha256: string; blocks?: Buffer; head: Buffer }> {
  const head: Buffer[] = [];
  const hash = createHash('sha256');
  const blocks = blockBytes ? new BlockHasher(blockBytes) : undefined;
  const fh = await open(path, 'r');
  let position = 0;
  let lastBeat = Date.now();
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_BYTES, position);
      if (bytesRead === 0) break;
      const part = buf.subarray(0, bytesRead);
      hash.update(part);
      blocks?.update(part);
      if (position < headBytes) head.push(Buffer.from(part.subarray(0, headBytes - position)));
      onBytes?.(part, position);
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
  return { sha256: hash.digest('hex'), blocks: blocks?.digest(), head: Buffer.concat(head) };
}

interface PlanRow {
  run_id: string;
  source: string;
  dataset: string;
  file: string;
  path: string;
  format: LoadPlan['format'];
  size_bytes: number;
  mtime_ms: number;
  sha256: string;
  header: string[];
  copy_columns: string[];
  landing_table: string;
  reject_budget: string;
  mode: 'plain' | 'rowkeys';
  status: LoadPlan['status'];
  source_dir: string | null;
  source_uri: string | null;
  etag: string | null;
  db_read: DbRead | null;
  first_line: string;
  verify_block_bytes: number | null;
  block_sha256: Buffer | null;
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
    verifyBlockBytes: r.verify_block_bytes ?? undefined,
    blockSha256: r.block_sha256 ?? undefined,
    header: r.header,
    copyColumns: r.copy_columns,
    landingTable: r.landing_table,
    rejectBudget: r.reject_budget,
    mode: r.mode,
    status: r.status,
    dbRead: r.db_read ?? undefined,
    firstLine: Number(r.first_line),
    chunks: chunks.rows.map((c) => ({ chunk: c.chunk, byteStart: Number(c.byte_start), byteEnd: Number(c.byte_end) })),
    sourceUri: r.source_uri ?? r.path,
    etag: r.etag ?? undefined,
    remoteSourceDir: r.source_dir ?? undefined,
  };
}

/** Drops a plan's landing table (if still there) and removes the plan, its chunks and its rejected rows. */
export async function forgetPlan(client: PoolClient, plan: LoadPlan): Promise<void> {
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
  const located = await locateSourceFile(sourceDir, file, { sourceRoot: opts.sourceRoot, format: spec.format, heartbeat: opts.heartbeat });
  const path = located.path;
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
  let firstLine = 1;
  let head: Buffer | undefined;
  if (spec.format === 'csv') {
    ({ header, dataStart, head } = await probeCsvHeader(path, file, st.size));
    firstLine = 1 + countLineEnds(head);
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
  const verifyBlockBytes = Math.max(1, opts.verifyBlockBytes ?? VERIFY_BLOCK_BYTES);
  const chunkBytes = Math.max(1, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  // CSV: the chunk cuts are found in the bytes as they are hashed (one read of the file, and the cuts are where the
  // bytes checked against the plan's block hashes have record starts)
  const cutter = spec.format === 'csv' ? new CsvCutFinder(file, st.size, dataStart, chunkBytes) : undefined;
  const hashed = await hashFile(path, st.size, verifyBlockBytes, head?.length ?? 0, opts.heartbeat, cutter && ((part, at) => cutter.push(part, at)));
  const { sha256, blocks } = hashed;
  opts.heartbeat?.({ phase: 'planning', hashedBytes: st.size, sizeBytes: st.size });
  // the header checked is the one hashed (and so the one chunk 0's first block is checked against)
  if (head && !head.equals(hashed.head)) throw formatError(file, 'changed while being planned (its header as read differs from the bytes hashed); run the load again');
  const chunks = cutter ? cutter.chunks() : [{ chunk: 0, byteStart: 0, byteEnd: st.size }];

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
    verifyBlockBytes,
    blockSha256: blocks,
    header,
    copyColumns,
    landingTable: landingTableName(spec.name, opts.runId),
    rejectBudget: budget,
    mode: 'plain',
    status: 'loading',
    chunks,
    sourceUri: located.uri,
    etag: located.etag,
    remoteSourceDir: located.remote ? sourceDir : undefined,
    firstLine,
  };
  await storePlan(pool, spec, plan, opts.workflowId);
  return plan;
}

/** Records a new plan and its chunks and creates its empty landing table, in one transaction. */
export async function storePlan(pool: Pool, spec: SourceSpec, plan: LoadPlan, workflowId: string | undefined): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO ops.load_plans (run_id, source, dataset, workflow_id, file, path, format, size_bytes, mtime_ms, sha256, header,
                                   copy_columns, landing_table, reject_budget, source_dir, source_uri, etag, db_read, first_line,
                                   verify_block_bytes, block_sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
      [
        plan.runId,
        plan.source,
        plan.dataset,
        workflowId ?? '',
        plan.file,
        plan.path,
        plan.format,
        plan.sizeBytes,
        plan.mtimeMs,
        plan.sha256,
        JSON.stringify(plan.header),
        JSON.stringify(plan.copyColumns),
        plan.landingTable,
        plan.rejectBudget,
        plan.remoteSourceDir ?? null,
        plan.sourceUri,
        plan.etag ?? null,
        plan.dbRead ? JSON.stringify(plan.dbRead) : null,
        plan.firstLine ?? 1,
        plan.verifyBlockBytes ?? null,
        plan.blockSha256 ?? null,
      ],
    );
    const chunks = plan.chunks;
    await client.query(
      `INSERT INTO ops.load_chunks (run_id, source, chunk, byte_start, byte_end, byte_done)
       SELECT $1, $2, c, s, e, s FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS t(c, s, e)`,
      [plan.runId, plan.source, chunks.map((c) => c.chunk), chunks.map((c) => c.byteStart), chunks.map((c) => c.byteEnd)],
    );
    await client.query(`DROP TABLE IF EXISTS ${qualifiedLanding(plan.landingTable)}`);
    await client.query(landingDDL(spec, plan.landingTable));
  });
}
