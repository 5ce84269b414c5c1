/**
 * Fault: the worker process dies (SIGKILL, no goodbye) while it is loading a large file.
 *
 * Case 1: the server notices within the heartbeat timeout, a freshly started worker process runs the
 *         load again, and the run completes with exact counts and no duplicates.
 * Case 5: the retried attempt resumes from the last committed batch instead of starting over.
 *
 * Both cases observe the same kill (one large run is the expensive part): case 1 records what it saw,
 * case 5 judges the resume from that record and fails on its own when the retry started over.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import type { ManagedProcess } from '../helpers/processes';
import { recordFigures } from './report';
import {
  DATASET,
  PENDING_STATE,
  TIMEOUT_TYPE,
  assertExactOutcome,
  committedCheckpoint,
  completedResults,
  copyProgress,
  csvDataLines,
  historyEvents,
  largeDataset,
  rowLoadingActivities,
  runResult,
  startRig,
  startedAttempts,
  unlessExits,
  waitForMidLoad,
  waitUntil,
  watchLoad,
  whileRunning,
  withDiagnostics,
} from './support';
import type { Checkpoint, FaultRig, LoadObservation } from './support';

/** What case 1 saw of the killed attempt and of the retried one, for case 5. */
interface KillRecord {
  killedAt: number;
  activityId: string;
  type: string;
  chunk?: number;
  rowsDoneAtKill: number;
  /** The chunk's committed checkpoint once the killed worker's transaction was gone. */
  checkpointAtKill: Checkpoint | null;
  checkpointAtEnd: Checkpoint | null;
  lastSeenOfAttempt1: LoadObservation;
  firstHeartbeatOfRetry?: LoadObservation;
  /** Result of the activity (the attempt that completed), from the history. */
  result: unknown;
  observations: LoadObservation[];
}

describe('fault: SIGKILL of the worker process in the middle of a large load', () => {
  let rig: FaultRig;
  let dir: string;
  let lines: number;
  let record: KillRecord | undefined;

  before(
    async () => {
      dir = await largeDataset();
      lines = await csvDataLines(path.join(dir, 'order_details.csv'));
      rig = await startRig();
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await rig?.close();
  });

  test(
    'case 1: the server notices the dead worker within the heartbeat timeout; a new worker process completes the run with exact counts and no duplicates',
    { timeout: 200_000 },
    async (t) => {
      const workers: ManagedProcess[] = [await rig.startWorker('worker-1')];
      const run = await startPipeline(rig.client, rig.config, { dataset: DATASET, sourceDir: dir, runKey: 'fault-sigkill' });
      const watch = watchLoad(run.handle, 'order_details');
      try {
        await withDiagnostics(t, { observations: () => watch.observations, processes: () => workers }, async () => {
          // Mid-load: half of order_details is done (a batch committed, when the engine commits in batches, and the next one
          // part way through its COPY),
          // a COPY is running, and the server holds the loading activity as STARTED.
          const progress = await whileRunning(run.handle, 'the order_details load got half way', (signal) =>
            waitForMidLoad(rig.db, run.runId, 'order_details', { minRows: Math.floor(lines / 2), totalRows: lines, timeoutMs: 120_000, signal }),
          );
          const started = await watch.waitFor(
            'the order_details load STARTED at the server',
            (o) => o.state === PENDING_STATE.STARTED && o.attempt === 1,
            10_000,
          );

          const killedAt = Date.now();
          await workers[0]!.kill();
          const lastSeenOfAttempt1 = watch.observations.filter((o) => o.activityId === started.activityId && o.attempt === 1).at(-1)!;
          // A real operator (systemd, Kubernetes) starts a new worker at once.
          workers.push(await rig.startWorker('worker-2'));
          const newWorkerReadyMs = Date.now() - killedAt;
          // PostgreSQL has rolled the dead worker's open batch back once its COPY is gone: what is committed now
          // is what a retry can resume from.
          await waitUntil('the killed worker\'s COPY to end', async () => (await copyProgress(rig.db, 'order_details')).length === 0, 10_000, 50);
          const checkpointAtKill = await committedCheckpoint(rig.db, run.runId, 'order_details', started.chunk);

          const retried = await watch.waitFor(
            'the server to schedule attempt 2 of the killed load',
            (o) => o.activityId === started.activityId && o.attempt >= 2,
            60_000,
          );
          const restarted = await watch.waitFor(
            'attempt 2 of the killed load to start on the new worker',
            (o) => o.activityId === started.activityId && o.attempt >= 2 && o.state === PENDING_STATE.STARTED && o.lastStartedAt !== null,
            60_000,
          );

          const summary = await unlessExits(workers[1]!, 'waiting for the run to complete', (signal) => runResult(run.handle, 150_000, signal));
          await watch.stop();

          const outcome = await assertExactOutcome(rig.db, summary, lines);

          // The server's own record: the attempt ended in a heartbeat timeout (not the 2-hour start-to-close), and ran again.
          assert.equal(
            retried.lastFailure?.timeoutType,
            TIMEOUT_TYPE.HEARTBEAT,
            `attempt 1 should end in a heartbeat timeout, got ${JSON.stringify(retried.lastFailure)}`,
          );
          const events = await historyEvents(run.handle);
          const killed = rowLoadingActivities(events, 'order_details').find((a) => a.activityId === started.activityId)!;
          const hbTimeout = killed.heartbeatTimeoutMs;
          assert.ok(hbTimeout, 'the load activity has a heartbeat timeout');
          const attempts = startedAttempts(events, [killed]);
          assert.deepEqual(attempts, [2], 'history: the killed load completed on attempt 2');

          const detectionMs = retried.at - killedAt;
          const killToRetryStartMs = restarted.lastStartedAt! - killedAt;
          // "Seconds, not minutes": the dead worker is noticed within the heartbeat timeout (plus polling slack).
          assert.ok(detectionMs <= hbTimeout + 3_000, `the server noticed the dead worker after ${detectionMs} ms (heartbeat timeout ${hbTimeout} ms)`);
          assert.ok(killToRetryStartMs <= hbTimeout + 10_000, `attempt 2 started ${killToRetryStartMs} ms after the kill`);

          record = {
            killedAt,
            activityId: killed.activityId,
            type: killed.type,
            chunk: killed.chunk,
            rowsDoneAtKill: progress.committed + progress.inFlight,
            checkpointAtKill,
            checkpointAtEnd: await committedCheckpoint(rig.db, run.runId, 'order_details', killed.chunk),
            lastSeenOfAttempt1,
            firstHeartbeatOfRetry: firstHeartbeatOfRetry(watch.observations, killed.activityId),
            result: completedResults(events, [killed])[0],
            observations: watch.observations.filter((o) => o.activityId === killed.activityId),
          };

          await recordFigures(t, 'worker-kill', {
            orderLines: lines,
            loadingActivity: `${killed.type}${killed.chunk === undefined ? '' : ` (chunk ${killed.chunk})`}`,
            rowsDoneWhenKilled: record.rowsDoneAtKill,
            rowsCommittedWhenKilled: checkpointAtKill?.rowsRead ?? null,
            heartbeatTimeoutMs: hbTimeout,
            lastHeartbeatAtServerBeforeKillMsAgo: lastSeenOfAttempt1.lastHeartbeatAt === null ? null : killedAt - lastSeenOfAttempt1.lastHeartbeatAt,
            newWorkerReadyAfterKillMs: newWorkerReadyMs,
            killToAttempt2ScheduledMs: detectionMs,
            lastHeartbeatToAttempt2ScheduledMs: lastSeenOfAttempt1.lastHeartbeatAt === null ? null : retried.at - lastSeenOfAttempt1.lastHeartbeatAt,
            killToAttempt2StartedMs: killToRetryStartMs,
            attempt1Failure: retried.lastFailure,
            runDurationMs: summary.durationMs,
            startedAttempts: attempts,
            staging: outcome.staging,
            fact: outcome.fact,
          });
        });
      } finally {
        await watch.stop();
      }
    },
  );

  test(
    'case 5: the retried attempt resumes from the last committed batch (its checkpoint), not from row 0',
    { timeout: 10_000 },
    async (t) => {
      assert.ok(record, 'case 1 did not get as far as the retried attempt: nothing to inspect');
      const r = record;
      const first = r.firstHeartbeatOfRetry?.details[0] as Record<string, unknown> | undefined;
      const result = r.result as Record<string, unknown> | undefined;
      await recordFigures(t, 'resume-from-checkpoint', {
        loadingActivity: `${r.type}${r.chunk === undefined ? '' : ` (chunk ${r.chunk})`}`,
        rowsDoneWhenKilled: r.rowsDoneAtKill,
        rowsInFlightWhenKilledRolledBack: r.checkpointAtKill ? r.rowsDoneAtKill - r.checkpointAtKill.rowsRead : null,
        checkpointAtKill: r.checkpointAtKill,
        firstHeartbeatOfAttempt2: first ?? null,
        resultOfAttempt2: result ?? null,
        checkpointAtEnd: r.checkpointAtEnd,
        timeline: r.observations.map((o) => ({
          t: o.at - r.killedAt,
          attempt: o.attempt,
          state: o.state,
          heartbeatAt: o.lastHeartbeatAt === null ? null : o.lastHeartbeatAt - r.killedAt,
          details: o.details,
        })),
      });

      // What the lead asked for, spelled out: a checkpoint committed with each batch (ops.load_chunks), which the
      // retried attempt starts from and reports (heartbeat details and result: resumedFromRow / resumedFromByte).
      assert.ok(
        r.checkpointAtKill && r.checkpointAtKill.rowsRead > 0,
        `a committed checkpoint > 0 rows in ops.load_chunks when the worker was killed (${r.rowsDoneAtKill} rows were done by then); ` +
          `found ${JSON.stringify(r.checkpointAtKill)}`,
      );
      const cp = r.checkpointAtKill;
      assert.ok(first, 'attempt 2 heartbeated: its first heartbeat should carry the checkpoint it resumed from');
      assert.equal(
        first.resumedFromRow,
        cp.rowsRead,
        `attempt 2 resumes from the committed checkpoint (${cp.rowsRead} rows, byte ${cp.byteDone}); its first heartbeat: ${JSON.stringify(first)}`,
      );
      assert.ok(result, 'the retried activity completed with a result');
      assert.equal(result.resumedFromRow, cp.rowsRead, `the result of attempt 2 says where it resumed: ${JSON.stringify(result)}`);
      assert.ok(Number(result.resumedFromByte) > 0, 'and from which byte offset');
      assert.ok(r.checkpointAtEnd, 'the checkpoint is still there at the end');
      assert.equal(r.checkpointAtEnd.attempts, 2, 'ops.load_chunks counts two attempts at the chunk');
      assert.ok(
        Number(result.rowsRead) - cp.rowsRead < Number(result.rowsRead),
        `attempt 2 read only the rows after the checkpoint (${Number(result.rowsRead) - cp.rowsRead} of ${String(result.rowsRead)})`,
      );
    },
  );
});

/**
 * The first heartbeat the server received from the retried attempt (sent after it started) that carries a
 * checkpoint; else its first heartbeat of any kind.
 */
function firstHeartbeatOfRetry(observations: LoadObservation[], activityId: string): LoadObservation | undefined {
  const ofRetry = observations.filter(
    (o) => o.activityId === activityId && o.attempt >= 2 && o.lastHeartbeatAt !== null && o.lastStartedAt !== null && o.lastHeartbeatAt >= o.lastStartedAt,
  );
  return ofRetry.find((o) => (o.details[0] as { resumedFromRow?: unknown } | undefined)?.resumedFromRow !== undefined) ?? ofRetry[0];
}
