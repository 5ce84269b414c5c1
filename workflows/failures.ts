import { ApplicationFailure } from '@temporalio/workflow';

// How the pipeline workflow waits for a phase's steps and names a failure: deterministic, no I/O.

/**
 * Like Promise.all, but waits for every step of a phase to settle before failing with the first error, so no
 * activity is still running (and no step still "running" in the history) when the run records its failure.
 */
export async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** Waits for both to settle, then fails with the first one's error if it failed, else the second's. */
export async function settleBoth<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

export function failureType(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof ApplicationFailure && cause.type) return cause.type;
  if (err instanceof ApplicationFailure && err.type) return err.type;
  return 'PipelineFailed';
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApplicationFailure) return err.message;
  if (err instanceof Error) {
    // ActivityFailure wraps the activity's own error as its cause: that message is the useful one.
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : err.message;
  }
  return String(err);
}
