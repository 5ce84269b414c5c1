import type { InputErrorType } from './contracts';

/**
 * Bad input: a missing file, a wrong header, an invalid row, a failed quality gate.
 * Activities turn it into a non-retryable ApplicationFailure of the same type, so the run fails fast
 * with this message instead of retrying something that cannot succeed.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly type: InputErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function isInputError(err: unknown): err is InputError {
  return err instanceof InputError;
}

/** Shortens a value for an error message, so a huge cell cannot flood a log line. */
export function showValue(value: unknown): string {
  let text: string;
  if (value === undefined) text = '(missing)';
  else if (value === null || value === '') text = '(blank)';
  else if (typeof value === 'bigint') text = value.toString();
  else if (value instanceof Date) text = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  else if (typeof value === 'string') text = JSON.stringify(value);
  else text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
