/**
 * Fault: the Temporal server is killed (SIGKILL) and started again (same SQLite file, same port) in the middle of a
 * stream. The running stretch keeps applying while the server is away (its heartbeats fail and are retried by the
 * SDK); the workflow carries on afterwards, and the tables end equal to a batch run over the same source rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { recordFigures } from './report';
import { startStreamRig, streamThroughFault } from './stream-support';
import type { StreamRig } from './stream-support';

describe('fault: restart of the Temporal server in the middle of a stream', () => {
  let s: StreamRig;
  before(async () => {
    s = await startStreamRig({ persistent: true });
  });
  after(async () => {
    await s?.close();
  });

  test('the stream carries on; nothing lost, nothing counted twice', async (t) => {
    let down: { killedAt: number; readyAt: number } | undefined;
    const outcome = await streamThroughFault(s, async () => {
      down = await s.rig.restartTemporal({ downMs: 3_000 });
    });
    assert.ok(down);
    assert.ok(outcome.recoveredAfterMs !== null, 'a batch was applied after the restart');
    await recordFigures(t, 'stream-temporal-restart', { ...outcome, temporalDownMs: down.readyAt - down.killedAt });
  });
});
