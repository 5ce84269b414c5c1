import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { LoadResult } from '../contracts';
import type { Pool } from '../db';
import type { SourceSpec } from '../sources/types';
import type { ChunkHeartbeat, ChunkResult } from './chunk';
import { loadChunk } from './chunk';
import type { LoadPlan } from './plan';
import { planLoad } from './plan';
import type { PublishTimings } from './publish';
import { discardLoad, publishLoad } from './publish';
import type { ActiveRelation } from './relations';

// The whole ingest of one file in one process, without Temporal: plan -> chunks -> publish, the very functions the
// activities run (workflows/ingest.ts does the same with one activity per step and the chunks side by side).
// The benchmark calls this; so can scripts and tests.

export interface IngestFileOptions {
  /** Identifies the load (ops.load_plans, ops.loads, ops.rejected_rows); default a random UUID. */
  runId?: string;
  workflowId?: string;
  dataset?: string;
  /** Override of the source's reject budget: "N" or "P%". */
  rejectBudget?: string;
  /** Target chunk size in bytes (CSV); default GUDANG_CHUNK_BYTES or 64 MiB. */
  chunkBytes?: number;
  /** Chunks loaded at once (each on its own connection); default the number of CPUs, at most 4. */
  concurrency?: number;
  /** Input bytes per batch (transaction); default 16 MiB. */
  batchBytes?: number;
  batchMs?: number;
  readBytes?: number;
  /** Let a source with no rows empty its staging table (publishLoad refuses it otherwise). */
  allowEmpty?: boolean;
  /** GUDANG_SOURCE_ROOT. */
  sourceRoot?: string;
  staleAfterMs?: number;
  heartbeat?: (details: Record<string, unknown>) => void;
  /** Relations in which this source is the child (relationsOf(dataset, source)): checked against parents loaded in the same run. */
  relations?: readonly ActiveRelation[];
}

export interface IngestTimings {
  planMs: number;
  loadMs: number;
  publishMs: number;
  /** Loads repeated in row-keys mode because of duplicate keys (0 normally). */
  reloads: number;
  publish: PublishTimings;
  chunks: { chunk: number; rows: number; durationMs: number }[];
}

export type IngestFileResult = LoadResult & { runId: string; timings: IngestTimings };

/** Runs `fn` over `items` with at most `limit` running at once; results in item order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

function envChunkBytes(): number | undefined {
  const v = Number(process.env.GUDANG_CHUNK_BYTES);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/**
 * Loads `spec.file` from `sourceDir` into staging.<spec.name>: plan, chunks (up to `concurrency` at once), publish.
 * On failure the landing table is dropped (rejected rows stay) and the error is rethrown: an InputError for bad
 * input (over the reject budget, wrong header, missing file, ...), anything else for faults.
 */
export async function ingestFile(pool: Pool, spec: SourceSpec, sourceDir: string, opts: IngestFileOptions = {}): Promise<IngestFileResult> {
  const runId = opts.runId ?? randomUUID();
  const timings: IngestTimings = { planMs: 0, loadMs: 0, publishMs: 0, reloads: 0, publish: { indexMs: 0, dedupMs: 0, swapMs: 0, analyzeMs: 0 }, chunks: [] };
  let t = Date.now();
  const plan: LoadPlan = await planLoad(pool, spec, sourceDir, {
    runId,
    workflowId: opts.workflowId,
    dataset: opts.dataset ?? '',
    rejectBudget: opts.rejectBudget,
    chunkBytes: opts.chunkBytes ?? envChunkBytes(),
    sourceRoot: opts.sourceRoot ?? process.env.GUDANG_SOURCE_ROOT,
    staleAfterMs: opts.staleAfterMs,
    heartbeat: opts.heartbeat,
  });
  timings.planMs = Date.now() - t;
  try {
    for (let round = 0; ; round++) {
      t = Date.now();
      const results: ChunkResult[] = await mapLimited(plan.chunks, opts.concurrency ?? Math.min(4, availableParallelism()), (c) =>
        loadChunk(pool, spec, runId, c.chunk, {
          batchBytes: opts.batchBytes,
          batchMs: opts.batchMs,
          readBytes: opts.readBytes,
          heartbeat: opts.heartbeat as ((d: ChunkHeartbeat) => void) | undefined,
        }),
      );
      timings.loadMs += Date.now() - t;
      timings.chunks = results.map((r) => ({ chunk: r.chunk, rows: r.rowsRead, durationMs: r.durationMs }));
      t = Date.now();
      const outcome = await publishLoad(pool, spec, runId, {
        workflowId: opts.workflowId,
        heartbeat: opts.heartbeat,
        allowEmpty: opts.allowEmpty,
        relations: opts.relations,
      });
      timings.publishMs += Date.now() - t;
      timings.publish = outcome.timings;
      if (outcome.status === 'published') return { ...outcome.result, runId, timings };
      if (round >= 1) throw new Error(`${spec.file}: publish asked for a second reload (${outcome.reason})`);
      timings.reloads++;
    }
  } catch (err) {
    await discardLoad(pool, runId, spec.name).catch(() => undefined);
    throw err;
  }
}
