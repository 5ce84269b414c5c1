import { Context } from '@temporalio/activity';
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

/** How often heartbeating() repeats the last details; the load activities' heartbeat timeout is 10 s. */
export const HEARTBEAT_EVERY_MS = 1000;

/**
 * The heartbeat loop of every long activity: fn reports progress through `beat` whenever it has some, and the last
 * report is repeated every second until fn settles. A load stuck in one long statement (an index build, a swap)
 * still proves its worker alive, and a dead worker is noticed within the heartbeat timeout.
 */
export async function heartbeating<T>(fn: (beat: (details: unknown) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let last: unknown = { phase: 'starting' };
  const beat = (details: unknown) => {
    last = details;
    ctx.heartbeat(details);
  };
  const timer = setInterval(() => ctx.heartbeat(last), HEARTBEAT_EVERY_MS);
  try {
    return await fn(beat);
  } finally {
    clearInterval(timer);
  }
}
