import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';

import { BACKUP_STEP, backupAfterRun } from './backup-after-run';
import { errorMessage, failureType, settleAll, settleBoth } from './failures';
import { ingestSource } from './ingest';
import { ACTIVITY_OPTIONS, DEFAULT_SCHEDULE_TIMEZONE, SA, isPeriod, periodForScheduledTime, periodLabel } from '../src/contracts';
import type {
  GateResult,
  LoadResult,
  ModelResult,
  PipelineInput,
  RecordRunEndResult,
  RunOutcome,
  RunRecord,
  StepRecord,
  PipelineProgress,
  PipelineSummary,
  RunStepName,
  RunTrigger,
  StepProgress,
} from '../src/contracts';

// Deterministic orchestration only: no I/O, no clocks but the workflow's, no Node built-ins.
// The dataset's shape comes from the planRun activity, so a new dataset needs no new workflow.
//
// One run loads one logical period (a month, YYYY-MM) or, without one, refreshes everything. A run started
// by a schedule has no period in its input: it loads the month before its scheduled time, in the schedule's
// time zone. Every run writes its history to ops.* (recordRunStart / recordSteps / recordRunEnd) and can
// start at a later step (fromStep), skipping, and recording as skipped, the steps before it.

const { planRun, recordRunStart, recordSteps, recordRunEnd } = proxyActivities<Activities>(ACTIVITY_OPTIONS.bookkeeping);
const { buildModel, checkQuality, publishWarehouse, discardWarehouse } = proxyActivities<Activities>(ACTIVITY_OPTIONS.transform);

export const progressQuery = defineQuery<PipelineProgress>('progress');

/** The period a run loads: its input's, else (scheduled run) the month before its scheduled time. */
function resolvePeriod(input: PipelineInput, trigger: RunTrigger): string | undefined {
  if (input.period !== undefined) {
    if (!isPeriod(input.period)) throw ApplicationFailure.nonRetryable(`period "${input.period}" is not YYYY-MM`, 'ConfigError');
    return input.period;
  }
  if (trigger !== 'schedule') return undefined;
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(SA.scheduledStartTime) ?? info.runStartTime;
  const timezone = input.timezone ?? DEFAULT_SCHEDULE_TIMEZONE;
  try {
    return periodForScheduledTime(scheduledAt, timezone);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`cannot work out the period of a run scheduled at ${scheduledAt.toISOString()} in ${timezone}: ${errorMessage(err)}`, 'ConfigError');
  }
}

/** Makes the run findable in the Web UI: sets the search attributes and memo its starter could not know. */
function publishIdentity(dataset: string, period: string | undefined, trigger: RunTrigger, runKey: string): void {
  const info = workflowInfo();
  const wanted = [
    { key: SA.dataset, value: dataset },
    { key: SA.period, value: period ?? 'full' },
    { key: SA.trigger, value: trigger },
    { key: SA.runKey, value: runKey },
  ];
  const changes: SearchAttributeUpdatePair[] = wanted.filter((w) => info.typedSearchAttributes.get(w.key) !== w.value);
  if (changes.length > 0) upsertSearchAttributes(changes);
  const memo = info.memo ?? {};
  if (memo.period !== (period ?? 'full') || memo.runKey !== runKey) upsertMemo({ period: period ?? 'full', runKey });
}

/** The run's last step: every table it built becomes the published one, in one transaction (write-audit-publish). */
const PUBLISH_STEP = 'publish warehouse';

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineSummary> {
  const info = workflowInfo();
  let summary: PipelineSummary;
  let writeAuditPublish = false;
  // When Temporal started the run (time spent waiting for a worker included), as the Web UI shows it.
  const startedAt = info.runStartTime.getTime();
  const trigger: RunTrigger = input.trigger ?? 'manual';
  const period = resolvePeriod(input, trigger);
  const runKey = input.runKey ?? period ?? 'full';
  const progress: PipelineProgress = {
    dataset: input.dataset,
    runKey,
    phase: 'planning',
    currentSteps: [],
    steps: [],
    period,
    trigger,
    fromStep: input.fromStep,
    startedAt: new Date(startedAt).toISOString(),
  };
  setHandler(progressQuery, () => progress);
  publishIdentity(input.dataset, period, trigger, runKey);

  const what = period ? `${periodLabel(period)} (${period})` : 'full refresh';
  const run: RunRecord = {
    dataset: input.dataset,
    period,
    trigger,
    runKey,
    fromStep: input.fromStep,
    rerunOf: input.rerunOf,
    sourceDir: input.sourceDir,
    startedAt: progress.startedAt!,
  };

  /** Shown as "Current details" in the Web UI. */
  function showDetails(): void {
    const done = progress.steps.filter((s) => s.status === 'completed' || s.status === 'skipped').length;
    const now = progress.currentSteps.length > 0 ? progress.currentSteps.join(', ') : progress.phase;
    setCurrentDetails(`**${input.dataset}**: ${what}, ${trigger} run  \nstep ${done}/${progress.steps.length}: ${now}`);
  }

  const records = (): StepRecord[] =>
    progress.steps.map((s, seq) => ({
      step: s.step,
      seq,
      phase: s.phase ?? 'ingest',
      kind: s.kind,
      status: s.status,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
      rowsIn: s.rowsIn,
      rowsOut: s.rows,
      error: s.error,
    }));

  /** Runs one activity as a named, planned step, keeping the progress query current. */
  async function step<T extends { durationMs: number }>(name: string, exec: () => Promise<T>, finish: (entry: StepProgress, r: T) => void): Promise<T> {
    const entry = progress.steps.find((s) => s.step === name);
    if (!entry) throw ApplicationFailure.nonRetryable(`step "${name}" is not in the plan`, 'ConfigError');
    entry.status = 'running';
    entry.startedAt = new Date().toISOString();
    progress.currentSteps.push(name);
    showDetails();
    try {
      const result = await exec();
      entry.status = 'completed';
      entry.durationMs = result.durationMs;
      finish(entry, result);
      return result;
    } catch (err) {
      // A child source whose parent did not load is not at fault: it is skipped, saying which parent.
      entry.status = failureType(err) === 'ParentNotLoaded' ? 'skipped' : 'failed';
      entry.error = isCancellation(err) ? 'cancelled' : errorMessage(err);
      throw err;
    } finally {
      entry.finishedAt = new Date().toISOString();
      entry.durationMs ??= Date.parse(entry.finishedAt) - Date.parse(entry.startedAt);
      progress.currentSteps = progress.currentSteps.filter((s) => s !== name);
      showDetails();
    }
  }

  try {
    showDetails();
    const plan = await planRun({ dataset: input.dataset });
    // Write, audit, publish: models build where readers cannot see them, gates check them there, and a last
    // step publishes every built table at once. Runs recorded before that step publish each model as it builds.
    writeAuditPublish = patched('write-audit-publish');
    // Parents publish before their children, which are checked against them (src/ingest/relations.ts).
    const parentsFirst = plan.parents !== undefined && patched('parent-child-quarantine');
    // A layer's gate runs beside the next layer's builds (they read what it checks and write only their own build
    // tables); nothing is published before every gate has passed, and a failed gate still fails the run.
    const gateBeside = writeAuditPublish && patched('gate-beside-next-layer');

    const phases: RunStepName[] = ['ingest', ...plan.layers.map((l) => l.name)];
    const first = phases.indexOf(input.fromStep ?? 'ingest');
    if (first < 0) {
      throw ApplicationFailure.nonRetryable(`unknown step "${input.fromStep}": steps of ${plan.dataset} are ${phases.join(', ')}`, 'ConfigError');
    }
    const skipped = (phase: RunStepName) => phases.indexOf(phase) < first;
    for (const s of plan.sources) {
      progress.steps.push({ step: `load ${s.name}`, kind: 'load', phase: 'ingest', table: s.table, status: skipped('ingest') ? 'skipped' : 'pending' });
    }
    for (const layer of plan.layers) {
      const status = skipped(layer.name) ? 'skipped' : 'pending';
      for (const m of layer.models) progress.steps.push({ step: `build ${m}`, kind: 'model', phase: layer.name, status });
      progress.steps.push({ step: `check ${layer.name}`, kind: 'gate', phase: layer.name, status });
    }
    const lastLayer = plan.layers.at(-1)?.name;
    if (writeAuditPublish && lastLayer) progress.steps.push({ step: PUBLISH_STEP, kind: 'publish', phase: lastLayer, status: 'pending' });
    if (input.backup) progress.steps.push({ step: BACKUP_STEP, kind: 'backup', phase: 'backup', table: input.backup.to, status: 'pending' });
    await recordRunStart({ run, steps: records() });

    const loads: LoadResult[] = [];
    if (!skipped('ingest')) {
      progress.phase = 'ingest';
      // one settled promise per source, resolved when it is published (rejected when its load failed)
      const published = new Map<string, { promise: Promise<void>; settle: (err?: unknown) => void }>();
      for (const s of plan.sources) {
        let settle: (err?: unknown) => void = () => undefined;
        const promise = new Promise<void>((resolve, reject) => {
          settle = (err?: unknown) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error(String(err))));
        });
        promise.catch(() => undefined);
        published.set(s.name, { promise, settle });
      }
      const order = (source: string) =>
        parentsFirst
          ? {
              parentsPublished: () =>
                Promise.all(
                  (plan.parents?.[source] ?? []).map((p) =>
                    published.get(p)!.promise.catch(() => {
                      throw ApplicationFailure.nonRetryable(`not published: its parent source ${p} did not load`, 'ParentNotLoaded');
                    }),
                  ),
                ),
            }
          : undefined;
      loads.push(
        ...(await settleAll(
          plan.sources.map((s) => {
            // Built apart from the call so that fields the ingest module does not (yet) declare still pass through.
            const ingestInput = {
              dataset: plan.dataset,
              source: s.name,
              sourceDir: input.sourceDir,
              rejectBudget: input.rejectBudget,
              allowEmpty: input.allowEmpty,
              ...(input.sourceDb ? { sourceDb: input.sourceDb, period } : {}),
            };
            const mine = published.get(s.name)!;
            const load = () =>
              ingestSource(ingestInput, order(s.name)).then(
                (r) => {
                  mine.settle();
                  return r;
                },
                (err: unknown) => {
                  mine.settle(err ?? new Error('failed'));
                  throw err;
                },
              );
            return step(`load ${s.name}`, load, (e, r) => {
              e.rows = r.rowsLoaded;
              e.rowsIn = r.rowsRead;
            });
          }),
        )),
      );
      await recordSteps({ steps: records() });
    }

    const models: ModelResult[] = [];
    const gates: GateResult[] = [];
    let besideGate: Promise<GateResult> | undefined;
    for (const [i, layer] of plan.layers.entries()) {
      if (skipped(layer.name)) continue;
      progress.phase = layer.name;
      // Models of one layer build side by side, except that a model reading another model of its own layer
      // (plan.layers[].after, from its {{ ref() }}s) starts once that one is built. Plans recorded before `after`
      // existed have none: every model starts at once, as those runs did.
      const started = new Map<string, Promise<ModelResult>>();
      const buildOne = (m: string): Promise<ModelResult> =>
        step(
          `build ${m}`,
          () =>
            buildModel.executeWithOptions({ summary: `build ${m}` }, [
              { dataset: plan.dataset, layer: layer.name, model: m, period, ...(writeAuditPublish ? { stage: true } : {}) },
            ]),
          (e, r) => {
            e.rows = r.rows;
            e.table = r.table;
          },
        );
      for (const m of layer.models) {
        const deps = (layer.after?.[m] ?? []).map((d) => started.get(d)).filter((p): p is Promise<ModelResult> => p !== undefined);
        started.set(m, deps.length === 0 ? buildOne(m) : Promise.all(deps).then(() => buildOne(m)));
      }
      // The previous layer's gate, when it ran beside these builds, is waited for too; its failure comes first.
      const [previousGate, built] = await settleBoth(besideGate ?? Promise.resolve(undefined), settleAll([...started.values()]));
      if (previousGate) gates.push(previousGate);
      besideGate = undefined;
      models.push(...built);
      const gate = step(
        `check ${layer.name}`,
        () => checkQuality.executeWithOptions({ summary: `check ${layer.name}` }, [{ dataset: plan.dataset, layer: layer.name, period }]),
        (e, r) => {
          e.rows = r.checks.length;
        },
      );
      // The last layer's steps are written by recordRunEnd.
      const last = i === plan.layers.length - 1;
      if (gateBeside && !last) {
        // awaited with the next layer's builds, which start in the same workflow task; the layer's steps are
        // recorded meanwhile (its gate as running)
        const recorded = recordSteps({ steps: records() });
        besideGate = settleBoth(gate, recorded).then(([g]) => g);
        besideGate.catch(() => undefined);
      } else {
        gates.push(await gate);
        if (!last) await recordSteps({ steps: records() });
      }
    }

    if (besideGate) gates.push(await besideGate);

    if (writeAuditPublish && lastLayer) {
      // Every gate of the run has passed: the new warehouse becomes visible, all layers at once.
      await step(
        PUBLISH_STEP,
        () => publishWarehouse.executeWithOptions({ summary: PUBLISH_STEP }, [{ dataset: plan.dataset }]),
        (e, r) => {
          e.table = `${r.tables.length} table${r.tables.length === 1 ? '' : 's'}`;
        },
      );
    }

    progress.phase = 'done';
    const finishedAt = Date.now();
    const end: RecordRunEndResult = await recordRunEnd({ run, status: 'completed', finishedAt: new Date(finishedAt).toISOString(), steps: records() });
    showDetails();
    const rows: Record<string, number> = {};
    for (const l of loads) rows[l.table] = l.rowsLoaded;
    for (const m of models) rows[m.table] = m.rows;
    summary = {
      dataset: plan.dataset,
      runKey,
      workflowId: info.workflowId,
      runId: info.runId,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - startedAt,
      rows,
      loads,
      models,
      gates,
      steps: progress.steps.filter((s) => s.status !== 'skipped').map((s) => ({ step: s.step, durationMs: s.durationMs ?? 0 })),
      period,
      trigger,
      fromStep: input.fromStep,
      skippedSteps: progress.steps.filter((s) => s.status === 'skipped').map((s) => s.step),
      partitions: end.partitions,
      findings: end.findings,
    };
  } catch (err) {
    const ending = (status: RunOutcome, error: string) => recordRunEnd({ run, status, finishedAt: new Date().toISOString(), error, steps: records() });
    // Nothing this run built was published; drop it (best effort: it is invisible to readers either way).
    if (writeAuditPublish) await CancellationScope.nonCancellable(() => discardWarehouse({ dataset: input.dataset }).catch(() => undefined));
    if (isCancellation(err)) {
      progress.phase = 'cancelled';
      showDetails();
      // Record the cancellation even though the run's scope is cancelled, then let the cancellation end the run.
      await CancellationScope.nonCancellable(() => ending('cancelled', 'cancelled').catch(() => undefined));
      throw err;
    }
    progress.phase = 'failed';
    showDetails();
    // Fail the run with the step's own words at the top, keeping the activity failure as the cause.
    const failed = progress.steps.find((s) => s.status === 'failed');
    const failure = ApplicationFailure.create({
      message: failed ? `${failed.step}: ${failed.error}` : errorMessage(err),
      type: failureType(err),
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
    // History is best effort here: the run's own failure is what must surface.
    await ending('failed', failure.message).catch(() => undefined);
    throw failure;
  }
  if (input.backup) summary.backup = await backupAfterRun(input, summary, progress, records, showDetails);
  return summary;
}
