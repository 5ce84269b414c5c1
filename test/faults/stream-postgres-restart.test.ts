/**
 * Fault: the shop's PostgreSQL restarts (fast shutdown, down 2 s) in the middle of a stream. The replication
 * connection breaks, the stretch fails and is retried; once the shop is back the stream resumes from the slot's
 * confirmed position, and the tables end equal to a batch run over the same source rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { recordFigures } from './report';
import { startStreamRig, streamThroughFault } from './stream-support';
import type { StreamRig } from './stream-support';

describe('fault: restart of the shop PostgreSQL in the middle of a stream', () => {
  let s: StreamRig;
  before(async () => {
    s = await startStreamRig();
  });
  after(async () => {
    await s?.close();
  });

  test('the stream resumes from the slot; nothing lost, nothing counted twice', async (t) => {
    const outcome = await streamThroughFault(s, () => s.shop.restart(2_000));
    assert.ok(outcome.recoveredAfterMs !== null, 'a batch was applied after the restart');
    await recordFigures(t, 'stream-postgres-restart', outcome as unknown as Record<string, unknown>);
  });
});
