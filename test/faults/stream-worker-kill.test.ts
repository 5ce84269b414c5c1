/**
 * Fault: the worker process running the stream dies (SIGKILL) while the shop keeps changing. A new worker process
 * takes the stretch over after the heartbeat timeout; batches the dead worker committed but never confirmed to the
 * slot come again and are skipped (applied_lsn), batches it had not committed are applied: the tables end equal to a
 * batch run over the same source rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { streamHandle } from '../../src/stream/client';
import type { ManagedProcess } from '../helpers/processes';
import { recordFigures } from './report';
import { startStreamRig, streamThroughFault } from './stream-support';
import type { StreamRig } from './stream-support';

describe('fault: SIGKILL of the worker in the middle of a stream', () => {
  let s: StreamRig;
  before(async () => {
    s = await startStreamRig();
  });
  after(async () => {
    await s?.close();
  });

  test('a new worker carries on; nothing lost, nothing counted twice', async (t) => {
    // two workers, as in production: the one running the stretch is killed, the other takes over
    const workers: ManagedProcess[] = [s.worker, await s.rig.startWorker('worker-2')];
    let killed: string | undefined;
    const outcome = await streamThroughFault(s, async () => {
      // the stretch in hand: between two stretches (or at a continue-as-new) no runStream has started yet, so wait
      // for one a worker has picked up
      let identity = '';
      for (let tries = 0; tries < 150 && !identity; tries++) {
        const pending = (await streamHandle(s.rig.client, 'django-apparel').describe()).raw.pendingActivities ?? [];
        identity = pending.find((p) => p.activityType?.name === 'runStream')?.lastWorkerIdentity ?? '';
        if (!identity) await new Promise((r) => setTimeout(r, 100));
      }
      const victim = workers.find((w) => identity.startsWith(`${w.child.pid}@`));
      assert.ok(victim, `the worker running the stretch (${identity}) is one of ours`);
      killed = identity;
      victim.child.kill('SIGKILL');
      await victim.exited;
    });
    assert.ok(killed);
    assert.ok(outcome.recoveredAfterMs !== null, 'a batch was applied after the kill');
    await recordFigures(t, 'stream-worker-kill', { ...outcome, killed });
  });
});
