import type { LoadResult } from '../src/contracts';

// How one load runs, written once: plan, every chunk side by side, publish; a second round when publishing found
// duplicate keys in a load made without row numbers; the landing table dropped when anything fails. The pipeline
// runs it with one activity per step (workflows/ingest.ts); src/ingest/load.ts and the benchmark run it with the same
// step functions in-process. Deterministic: no I/O here, only the steps given.

/** The steps of one load, however they run. */
export interface LoadSteps {
  /** Plans the load (header, hash, chunk plan, an empty landing table). */
  plan(): Promise<{ file: string; chunks: readonly number[] }>;
  /** Loads one chunk (`of` chunks in all; round 1 = the reload with row numbers). */
  chunk(chunk: number, of: number, round: number): Promise<unknown>;
  publish(): Promise<{ status: 'published'; result: LoadResult } | { status: 'reload'; reason: string }>;
  /** Drops the landing table of a failed load; best effort: it never throws (a later plan sweeps what is left). */
  discard(): Promise<void>;
  /** The error for a load that a reload with row numbers still could not publish. */
  notPublished(message: string): Error;
}

export async function runLoad(steps: LoadSteps): Promise<LoadResult> {
  const plan = await steps.plan();
  try {
    for (let round = 0; round < 2; round++) {
      const n = plan.chunks.length;
      await Promise.all(plan.chunks.map((chunk) => steps.chunk(chunk, n, round)));
      const outcome = await steps.publish();
      if (outcome.status === 'published') return outcome.result;
    }
    throw steps.notPublished(`${plan.file}: the load could not be published after reloading it with row numbers`);
  } catch (err) {
    // the rejected rows stay in ops.rejected_rows
    await steps.discard();
    throw err;
  }
}
