import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { runLoad } from '../../workflows/load-steps';
import type { LoadResult } from '../contracts';
import type { Pool } from '../db';
import type { SourceSpec } from '../sources/types';
import type { ChunkHeartbeat, ChunkOptions } from './chunk';
import { loadChunk } from './chunk';
import { planLoad } from './plan';
import { discardLoad, publishLoad } from './publish';
import type { ActiveRelation } from './relations';

export interface LoadOptions {
  /** Identifies the load (ops.load_plans, ops.loads, ops.rejected_rows); default a random UUID. */
  runId?: string;
  workflowId?: string;
  dataset?: string;
  /** The run's reject budget override ("N" or "P%"); default the source's. */
  rejectBudget?: string;
  /** GUDANG_SOURCE_ROOT. */
  sourceRoot?: string;
  /** Let a source with no rows empty its staging table (publishLoad refuses it otherwise). */
  allowEmpty?: boolean;
  /** Target chunk size in bytes (CSV); default GUDANG_CHUNK_BYTES or 64 MiB. */
  chunkBytes?: number;
  /** Chunks loaded at once (each on its own connection), as a worker's activity slots; default the CPUs, at most 4. */
  concurrency?: number;
  /** Per chunk: input bytes per batch (transaction), the batch time limit, the file read size. */
  batchBytes?: ChunkOptions['batchBytes'];
  batchMs?: ChunkOptions['batchMs'];
  readBytes?: ChunkOptions['readBytes'];
  /** Block size of a CSV file's block hashes, checked as chunks read it (default 1 MiB). */
  verifyBlockBytes?: number;
  staleAfterMs?: number;
  /** Called with progress (plan, each committed batch, publish steps); the loadSource activity heartbeats it. */
  heartbeat?: (progress: Record<string, unknown>) => void;
  /** Relations in which this source is the child (relationsOf(dataset, source)): checked against parents loaded in the same run. */
  relations?: readonly ActiveRelation[];
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function envChunkBytes(): number | undefined {
  const v = Number(process.env.GUDANG_CHUNK_BYTES);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** `fn` limited to `limit` calls running at once (the others wait their turn, in call order). */
export function limited<A extends unknown[], R>(limit: number, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (...args: A) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn(...args);
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/**
 * Loads one source file into its staging table in-process: the pipeline's own load (runLoad: plan, chunks side by
 * side, publish, the reload with row numbers, the cleanup) with its steps called directly instead of as activities.
 * A failed load leaves staging as it was (its rejected rows stay) and rethrows: an InputError for bad input.
 * Returns the load's result, its run id and how many times publishing asked for a reload with row numbers.
 */
export async function loadSource(pool: Pool, spec: SourceSpec, sourceDir: string, opts: LoadOptions = {}): Promise<LoadResult & { runId: string; reloads: number }> {
  const runId = opts.runId ?? randomUUID();
  let reloads = 0;
  const chunk = limited(opts.concurrency ?? Math.min(4, availableParallelism()), (n: number) =>
    loadChunk(pool, spec, runId, n, {
      batchBytes: opts.batchBytes,
      batchMs: opts.batchMs,
      readBytes: opts.readBytes,
      heartbeat: opts.heartbeat as ((d: ChunkHeartbeat) => void) | undefined,
    }),
  );
  const result = await runLoad({
    plan: async () => {
      const plan = await planLoad(pool, spec, sourceDir, {
        runId,
        workflowId: opts.workflowId,
        dataset: opts.dataset ?? '',
        rejectBudget: opts.rejectBudget,
        chunkBytes: opts.chunkBytes ?? envChunkBytes(),
        sourceRoot: opts.sourceRoot ?? process.env.GUDANG_SOURCE_ROOT,
        staleAfterMs: opts.staleAfterMs,
        verifyBlockBytes: opts.verifyBlockBytes,
        heartbeat: opts.heartbeat,
      });
      return { file: plan.file, chunks: plan.chunks.map((c) => c.chunk) };
    },
    chunk: (n) => chunk(n),
    publish: async () => {
      const outcome = await publishLoad(pool, spec, runId, { workflowId: opts.workflowId, heartbeat: opts.heartbeat, allowEmpty: opts.allowEmpty, relations: opts.relations });
      if (outcome.status === 'reload') reloads++;
      return outcome;
    },
    discard: async () => {
      await discardLoad(pool, runId, spec.name).catch(() => undefined);
    },
    notPublished: (message) => new Error(message),
  });
  return { ...result, runId, reloads };
}
