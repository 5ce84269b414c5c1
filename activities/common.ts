import { ApplicationFailure } from '@temporalio/common';
import { isInputError } from '../src/errors';

/** Bad input becomes a non-retryable failure of its own type; anything else is left to the retry policy. */
export async function failFastOnBadInput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isInputError(err)) {
      throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: true, details: [err.details] });
    }
    throw err;
  }
}
