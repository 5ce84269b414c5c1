// Exit codes and the errors that carry them: kept apart from everything heavy, so the dispatcher loads fast.

/**
 * Exit codes of every command:
 *   0  success (for run --wait / status: the run completed)
 *   1  the run failed, was cancelled or terminated (the message says which, and why)
 *   2  bad usage: unknown command or option, malformed value
 *   3  Temporal (or, for `runs`, PostgreSQL) cannot be reached
 *   4  not found: no such run or schedule
 *   5  conflict: e.g. the schedule id is taken, or a rerun of a run that is still running
 */
export const EXIT = { ok: 0, runFailed: 1, usage: 2, unavailable: 3, notFound: 4, conflict: 5 } as const;

/** A mistake in the command line: printed with the command's help, exit 2. */
export class UsageError extends Error {}

/** An error with its own exit code (not found, conflict, unavailable). */
export class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Whether an error means "the server is not there" (gRPC UNAVAILABLE, refused connection). */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: string };
  return e?.code === 14 || /UNAVAILABLE|ECONNREFUSED|failed to connect|transport error|Connection refused/i.test(e?.message ?? '');
}

/** node:util parseArgs' errors: unknown option, missing value, unexpected argument. */
export function isParseError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
