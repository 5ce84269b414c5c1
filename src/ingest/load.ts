import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { LoadResult } from '../contracts';
import type { Pool } from '../db';
import type { SourceSpec } from '../sources/types';
import { ingestFile } from './engine';

export interface LoadContext {
  runId: string;
  workflowId: string;
  dataset: string;
  /** The run's reject budget override ("N" or "P%"); default the source's. */
  rejectBudget?: string;
  sourceRoot?: string;
  allowEmpty?: boolean;
  chunkBytes?: number;
  /** Called with progress (plan, each committed batch, publish steps); activities turn it into heartbeats. */
  heartbeat?: (progress: Record<string, unknown>) => void;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Loads one source file into its staging table in one call: the engine's plan, chunks (one after the other) and
 * publish. A failed or retried load leaves staging as it was; a rerun with the same file leaves the same rows.
 */
export async function loadSource(pool: Pool, spec: SourceSpec, sourceDir: string, ctx: LoadContext): Promise<LoadResult> {
  const { timings: _timings, runId: _runId, ...result } = await ingestFile(pool, spec, sourceDir, {
    runId: ctx.runId,
    workflowId: ctx.workflowId,
    dataset: ctx.dataset,
    rejectBudget: ctx.rejectBudget,
    sourceRoot: ctx.sourceRoot,
    chunkBytes: ctx.chunkBytes,
    allowEmpty: ctx.allowEmpty,
    heartbeat: ctx.heartbeat,
  });
  return result;
}
