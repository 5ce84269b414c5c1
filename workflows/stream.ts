import {
  ActivityCancellationType,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ACTIVITY_OPTIONS, SA, streamStatusQueryName, streamStopSignalName } from '../src/contracts';
import type { PipelineInput, StreamInput, StreamProgress, StreamResult, StreamStatus, StreamStopRequest } from '../src/contracts';
import { pipelineWorkflow } from './pipeline';

// The real-time stream of one dataset: one long-running workflow (id gudang-<dataset>-stream). All I/O is in the
// activities: prepareStream (publication and slot on the source, ops.streams), then, when the slot is new, one full
// pipeline run from the source database as a child workflow (the rows committed before the slot existed), then
// runStream stretch after stretch (each captures and applies for stretchMs, heartbeating its lag every second),
// continuing as new every stretchesPerRun stretches so the history stays bounded. A `stop` signal cancels the
// stretch in hand (it finishes its batch and confirms it) and ends the workflow cleanly, dropping the slot only if
// asked. The lag shows in the Web UI as the workflow's current details and memo, and in the pending activity's
// heartbeat details.

export const streamStatusQuery = defineQuery<StreamStatus>(streamStatusQueryName);
export const streamStopSignal = defineSignal<[StreamStopRequest?]>(streamStopSignalName);

const { prepareStream, finishStream } = proxyActivities<Activities>(ACTIVITY_OPTIONS.bookkeeping);

const DEFAULT_STRETCH_MS = 60_000;
const DEFAULT_STRETCHES_PER_RUN = 30;

export async function streamWorkflow(input: StreamInput): Promise<StreamResult> {
  const stretchMs = input.stretchMs ?? DEFAULT_STRETCH_MS;
  const { runStream } = proxyActivities<Activities>({
    startToCloseTimeout: stretchMs + 120_000,
    heartbeatTimeout: '10 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // a source or warehouse restart, a dead worker: try again, for as long as it takes (the slot keeps the changes)
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes: [...(ACTIVITY_OPTIONS.load.retry.nonRetryableErrorTypes ?? [])] },
  });
  const totals = { stretches: 0, batches: 0, changes: 0, ...input.totals };
  const status: StreamStatus = {
    dataset: input.dataset,
    phase: input.prepared ? 'streaming' : 'preparing',
    stretches: totals.stretches,
    batches: totals.batches,
    changes: totals.changes,
    appliedLsn: totals.appliedLsn ?? null,
    lastLagMs: totals.lastLagMs ?? null,
    retainedWalBytes: null,
    updatedAt: new Date().toISOString(),
  };
  let stop: StreamStopRequest | undefined;
  let stretch: CancellationScope | undefined;
  setHandler(streamStatusQuery, () => status);
  setHandler(streamStopSignal, (req) => {
    stop = req ?? {};
    status.phase = 'stopping';
    stretch?.cancel();
  });

  const show = () => {
    status.updatedAt = new Date().toISOString();
    const lag = status.lastLagMs === null ? 'no batch yet' : `${Math.round(status.lastLagMs)} ms`;
    setCurrentDetails(
      `**${status.phase}** from ${input.sourceDb}\n\nlag (last batch, source commit to mart): ${lag}\n\n` +
        `batches ${status.batches}, changes ${status.changes}, applied up to ${status.appliedLsn ?? '-'}, slot retains ${status.retainedWalBytes ?? '?'} bytes of WAL`,
    );
    upsertMemo({ phase: status.phase, lagMs: status.lastLagMs, batches: status.batches, changes: status.changes, appliedLsn: status.appliedLsn });
  };
  show();

  if (!input.prepared) {
    const prepared = await prepareStream({ dataset: input.dataset, sourceDb: input.sourceDb, workflowId: workflowInfo().workflowId });
    if (prepared.created && !stop) {
      status.phase = 'initial load';
      show();
      const load: PipelineInput = { dataset: input.dataset, sourceDir: input.sourceDir, sourceDb: input.sourceDb, runKey: 'stream-initial', trigger: 'manual' };
      if (input.rejectBudget !== undefined) load.rejectBudget = input.rejectBudget;
      await executeChild(pipelineWorkflow, {
        workflowId: `${workflowInfo().workflowId}-initial-load`,
        args: [load],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        typedSearchAttributes: [
          { key: SA.dataset, value: input.dataset },
          { key: SA.period, value: 'full' },
          { key: SA.trigger, value: 'manual' },
          { key: SA.runKey, value: 'stream-initial' },
        ],
      });
    }
  }

  const perRun = input.stretchesPerRun ?? DEFAULT_STRETCHES_PER_RUN;
  let stretchesThisRun = 0;
  while (!stop) {
    status.phase = 'streaming';
    show();
    stretch = new CancellationScope();
    let p: StreamProgress | undefined;
    try {
      p = await stretch.run(() => runStream({ dataset: input.dataset, sourceDb: input.sourceDb, stretchMs }));
    } catch (err) {
      if (!(isCancellation(err) && stop)) throw err;
    }
    stretch = undefined;
    totals.stretches++;
    stretchesThisRun++;
    status.stretches = totals.stretches;
    if (p) {
      totals.batches += p.batches;
      totals.changes += p.changes;
      status.batches = totals.batches;
      status.changes = totals.changes;
      status.appliedLsn = p.appliedLsn;
      status.lastLagMs = p.lastLagMs ?? status.lastLagMs;
      status.retainedWalBytes = p.retainedWalBytes;
    }
    if (!stop && (stretchesThisRun >= perRun || workflowInfo().continueAsNewSuggested)) {
      show();
      await condition(allHandlersFinished);
      await continueAsNew<typeof streamWorkflow>({ ...input, prepared: true, totals: { ...totals, lastLagMs: status.lastLagMs, appliedLsn: status.appliedLsn } });
    }
  }

  status.phase = 'stopping';
  show();
  const { slotDropped } = await finishStream({ dataset: input.dataset, sourceDb: input.sourceDb, dropSlot: stop?.dropSlot ?? false, status: 'stopped' });
  status.phase = 'stopped';
  show();
  await condition(allHandlersFinished);
  return { ...status, slotDropped };
}
