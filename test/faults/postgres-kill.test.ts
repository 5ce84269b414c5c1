/**
 * Fault: PostgreSQL drops the loading connection in the middle of a COPY
 * (pg_terminate_backend, as an administrator, a failover or a network cut would).
 *
 * Case 2: the load activity fails, Temporal retries it on the same worker process (which survives),
 *         and the run completes with exact counts and no duplicates.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { recordFigures } from './report';
import {
  DATASET,
  PENDING_STATE,
  assertExactOutcome,
  completedResults,
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
import type { FaultRig } from './support';

describe('fault: the database connection of a running load is terminated', () => {
  let rig: FaultRig;
  let dir: string;
  let lines: number;

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
    'case 2: pg_terminate_backend on the COPY fails the attempt, the activity retries on the same worker, the run completes with exact counts',
    { timeout: 180_000 },
    async (t) => {
      const worker = await rig.startWorker('worker');
      const run = await startPipeline(rig.client, rig.config, { dataset: DATASET, sourceDir: dir, runKey: 'fault-pg-terminate' });
      const watch = watchLoad(run.handle, 'order_details');
      try {
        await withDiagnostics(t, { observations: () => watch.observations, processes: () => [worker] }, async () => {
          const progress = await whileRunning(run.handle, 'the order_details load got half way', (signal) =>
            waitForMidLoad(rig.db, run.runId, 'order_details', { minRows: Math.floor(lines / 2), totalRows: lines, timeoutMs: 120_000, signal }),
          );
          assert.ok(progress.copies.every((c) => c.applicationName === 'gudang'), 'the COPY runs on a gudang worker connection');

          // Between two batches no COPY runs for a moment: try until one is caught.
          let terminatedAt = 0;
          const terminated = await waitUntil(
            'a COPY into order_details to terminate',
            async () => {
              terminatedAt = Date.now();
              const { rows } = await rig.db.pool.query<{ pid: number; ok: boolean }>(
                `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name = 'gudang' AND state = 'active'
                    AND query ILIKE 'copy%order_details%'`,
              );
              return rows.some((r) => r.ok) ? rows : undefined;
            },
            10_000,
            10,
          );

          // The worker must take a dropped connection as a failed attempt, not die of it.
          const retried = await unlessExits(
            worker,
            () => `waiting for the load to be retried: it died ${worker.exitedAt! - terminatedAt} ms after its connection was terminated`,
            (signal) => watch.waitFor('attempt 2 of the order_details load', (o) => o.attempt >= 2, 60_000, signal),
          );
          const restarted = await unlessExits(worker, 'waiting for attempt 2 to start', (signal) =>
            watch.waitFor(
              'attempt 2 of the order_details load to start',
              (o) => o.attempt >= 2 && o.state === PENDING_STATE.STARTED && o.lastStartedAt !== null,
              60_000,
              signal,
            ),
          );
          const summary = await unlessExits(worker, 'waiting for the run to complete', (signal) => runResult(run.handle, 150_000, signal));
          await watch.stop();

          assert.ok(worker.running, `the worker process survived the dropped connection. Its output:\n${worker.output()}`);
          // The attempt failed on the connection error itself (EPIPE, "terminating connection", ...) and at once:
          // not by going silent until the heartbeat timeout.
          assert.ok(retried.lastFailure?.message, 'attempt 1 failed with an error');
          assert.equal(retried.lastFailure.timeoutType, undefined, `attempt 1 failed, not timed out: ${JSON.stringify(retried.lastFailure)}`);
          assert.ok(retried.at - terminatedAt < 5_000, `the retry was scheduled ${retried.at - terminatedAt} ms after the termination`);
          const outcome = await assertExactOutcome(rig.db, summary, lines);
          const events = await historyEvents(run.handle);
          const failed = rowLoadingActivities(events, 'order_details').find((a) => a.activityId === retried.activityId)!;
          const attempts = startedAttempts(events, [failed]);
          assert.deepEqual(attempts, [2], 'history: the same load activity completed on attempt 2 (a retry, not a new load)');
          const result = completedResults(events, [failed])[0] as { resumedFromRow?: number } | undefined;

          await recordFigures(t, 'postgres-kill', {
            orderLines: lines,
            loadingActivity: `${failed.type}${failed.chunk === undefined ? '' : ` (chunk ${failed.chunk})`}`,
            rowsDoneWhenTerminated: progress.committed + progress.inFlight,
            rowsCommittedWhenTerminated: progress.committed,
            attempt2ResumedFromRow: result?.resumedFromRow ?? null,
            backendsTerminated: terminated.length,
            attempt1Failure: retried.lastFailure?.message,
            terminateToAttempt2ScheduledMs: retried.at - terminatedAt,
            terminateToAttempt2StartedMs: restarted.lastStartedAt! - terminatedAt,
            loadDurationMs: summary.steps.find((s) => s.step === 'load order_details')?.durationMs,
            runDurationMs: summary.durationMs,
            startedAttempts: attempts,
            workerSurvived: worker.running,
            staging: outcome.staging,
            fact: outcome.fact,
          });
        });
      } finally {
        await watch.stop();
      }
    },
  );
});
