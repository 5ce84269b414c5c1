/**
 * Fault: the Temporal server goes away in the middle of a run (SIGKILL: a crash, not a clean stop) and
 * comes back a few seconds later on the same address with the same persistence file.
 *
 * Case 3: the worker process rides out the outage (its connection reconnects by itself, no restart),
 *         the run picks up where the server's history left it, and completes with exact counts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { recordFigures } from './report';
import {
  DATASET,
  assertExactOutcome,
  csvDataLines,
  historyEvents,
  largeDataset,
  rowLoadingActivities,
  runResult,
  startRig,
  startedAttempts,
  tsMs,
  unlessExits,
  waitForMidLoad,
  watchLoad,
  whileRunning,
  withDiagnostics,
} from './support';
import type { FaultRig } from './support';

/** How long the server stays down before it is started again. */
const OUTAGE_MS = 5_000;

describe('fault: the Temporal server crashes and restarts in the middle of a run', () => {
  let rig: FaultRig;
  let dir: string;
  let lines: number;

  before(
    async () => {
      dir = await largeDataset();
      lines = await csvDataLines(path.join(dir, 'order_details.csv'));
      rig = await startRig({ persistent: true });
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await rig?.close();
  });

  test(
    'case 3: the worker process survives the outage and reconnects; the run resumes from the persisted history and completes with exact counts',
    { timeout: 180_000 },
    async (t) => {
      const worker = await rig.startWorker('worker');
      const run = await startPipeline(rig.client, rig.config, { dataset: DATASET, sourceDir: dir, runKey: 'fault-temporal-restart' });
      const firstRunId = run.runId;
      const watch = watchLoad(run.handle, 'order_details');
      try {
        await withDiagnostics(t, { observations: () => watch.observations, processes: () => [worker] }, async () => {
          const progress = await whileRunning(run.handle, 'the order_details load got half way', (signal) =>
            waitForMidLoad(rig.db, run.runId, 'order_details', { minRows: Math.floor(lines / 2), totalRows: lines, timeoutMs: 120_000, signal }),
          );
          const address = rig.server.address;

          const outage = await rig.restartTemporal({ downMs: OUTAGE_MS });
          assert.equal(rig.server.address, address, 'the server is back on the same address');
          assert.ok(worker.running, `the worker process is still up after the outage. Its output:\n${worker.output()}`);

          const summary = await unlessExits(worker, 'waiting for the run to complete after the Temporal restart', (signal) =>
            runResult(run.handle, 150_000, signal),
          );
          const doneAt = Date.now();
          await watch.stop();

          assert.equal(summary.runId, firstRunId, 'the same workflow execution completed: the server kept it across the restart');
          assert.ok(worker.running, 'the worker process is still the same one');
          const outcome = await assertExactOutcome(rig.db, summary, lines);

          const events = await historyEvents(run.handle);
          const attempts = startedAttempts(events, rowLoadingActivities(events, 'order_details'));
          const afterRestart = events.filter((e) => (tsMs(e.eventTime) ?? 0) >= outage.readyAt);
          const firstAfter = afterRestart[0];
          assert.ok(firstAfter, 'the run recorded progress after the restart');
          // The worker is back in touch when the server gets a heartbeat of the running load (or, if the load ended
          // during the outage, its completion): whichever comes first after the restart.
          const heartbeatAfter = watch.observations.find((o) => o.lastHeartbeatAt !== null && o.lastHeartbeatAt >= outage.readyAt);
          const backInTouchAt = Math.min(heartbeatAfter?.lastHeartbeatAt ?? Infinity, tsMs(firstAfter.eventTime) ?? Infinity);

          await recordFigures(t, 'temporal-restart', {
            orderLines: lines,
            rowsDoneWhenServerKilled: progress.committed + progress.inFlight,
            serverDownMs: outage.startedAt - outage.killedAt,
            serverRestartMs: outage.readyAt - outage.startedAt,
            outageTotalMs: outage.readyAt - outage.killedAt,
            readyToWorkerHeardAgainMs: backInTouchAt - outage.readyAt,
            heardAgainBy: heartbeatAfter?.lastHeartbeatAt === backInTouchAt ? 'a heartbeat of the running load' : eventTypeName(firstAfter.eventType),
            readyToFirstNewHistoryEventMs: (tsMs(firstAfter.eventTime) ?? 0) - outage.readyAt,
            firstEventAfterRestart: eventTypeName(firstAfter.eventType),
            readyToRunCompletedMs: doneAt - outage.readyAt,
            orderDetailsStartedAttempts: attempts,
            workerRestarted: false,
            workerRetryWarnings: worker.output().split('\n').filter((l) => /retried \d+ times/.test(l)).length,
            runDurationMs: summary.durationMs,
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

/** temporal.api.enums.v1.EventType names of the events a run of this pipeline can resume with. */
const EVENT_TYPES: Record<number, string> = {
  5: 'WorkflowTaskScheduled',
  6: 'WorkflowTaskStarted',
  7: 'WorkflowTaskCompleted',
  8: 'WorkflowTaskTimedOut',
  10: 'ActivityTaskScheduled',
  11: 'ActivityTaskStarted',
  12: 'ActivityTaskCompleted',
  13: 'ActivityTaskFailed',
  14: 'ActivityTaskTimedOut',
};

function eventTypeName(type: unknown): string {
  return EVENT_TYPES[Number(type)] ?? `EventType ${String(type)}`;
}
