import { ApplicationFailure, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ingestSource } from './ingest';
import { INPUT_ERROR_TYPES } from '../src/contracts';
import type {
  GateResult,
  LoadResult,
  ModelResult,
  PipelineInput,
  PipelineProgress,
  PipelineSummary,
  StepProgress,
} from '../src/contracts';

// Deterministic orchestration only: no I/O, no clocks but the workflow's, no Node built-ins.
// The dataset's shape comes from the planRun activity, so a new dataset needs no new workflow.

const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
  nonRetryableErrorTypes: [...INPUT_ERROR_TYPES],
};

const { planRun } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry,
});

const { buildModel, checkQuality } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  retry,
});

export const progressQuery = defineQuery<PipelineProgress>('progress');

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineSummary> {
  const info = workflowInfo();
  const runKey = input.runKey ?? 'full';
  const startedAt = Date.now();
  const progress: PipelineProgress = { dataset: input.dataset, runKey, phase: 'planning', currentSteps: [], steps: [] };
  setHandler(progressQuery, () => progress);

  /** Runs one activity as a named step, keeping the progress query current. */
  async function step<T extends { durationMs: number }>(
    name: string,
    kind: StepProgress['kind'],
    run: () => Promise<T>,
    rowsOf: (r: T) => number | undefined,
  ): Promise<T> {
    const entry: StepProgress = { step: name, kind, status: 'running' };
    progress.steps.push(entry);
    progress.currentSteps.push(name);
    try {
      const result = await run();
      entry.status = 'completed';
      entry.rows = rowsOf(result);
      entry.durationMs = result.durationMs;
      return result;
    } catch (err) {
      entry.status = 'failed';
      entry.error = errorMessage(err);
      throw err;
    } finally {
      progress.currentSteps = progress.currentSteps.filter((s) => s !== name);
    }
  }

  try {
    const plan = await planRun({ dataset: input.dataset });

    progress.phase = 'ingest';
    const loads: LoadResult[] = await Promise.all(
      plan.sources.map((s) =>
        step(`load ${s.name}`, 'load', () => ingestSource({ dataset: plan.dataset, source: s.name, sourceDir: input.sourceDir }), (r) => r.rowsLoaded),
      ),
    );

    const models: ModelResult[] = [];
    const gates: GateResult[] = [];
    for (const layer of plan.layers) {
      progress.phase = layer.name;
      // Models of one layer depend only on earlier layers, so they build side by side.
      const built = await Promise.all(
        layer.models.map((m) =>
          step(`build ${m}`, 'model', () => buildModel({ dataset: plan.dataset, layer: layer.name, model: m }), (r) => r.rows),
        ),
      );
      models.push(...built);
      gates.push(
        await step(`check ${layer.name}`, 'gate', () => checkQuality({ dataset: plan.dataset, layer: layer.name }), (r) => r.checks.length),
      );
    }

    progress.phase = 'done';
    const rows: Record<string, number> = {};
    for (const l of loads) rows[l.table] = l.rowsLoaded;
    for (const m of models) rows[m.table] = m.rows;
    const finishedAt = Date.now();
    return {
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
      steps: progress.steps.map((s) => ({ step: s.step, durationMs: s.durationMs ?? 0 })),
    };
  } catch (err) {
    progress.phase = 'failed';
    // Fail the run with the step's own words at the top, keeping the activity failure as the cause.
    const failed = progress.steps.find((s) => s.status === 'failed');
    throw ApplicationFailure.create({
      message: failed ? `${failed.step}: ${failed.error}` : errorMessage(err),
      type: failureType(err),
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}

function failureType(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof ApplicationFailure && cause.type) return cause.type;
  if (err instanceof ApplicationFailure && err.type) return err.type;
  return 'PipelineFailed';
}

function errorMessage(err: unknown): string {
  if (err instanceof ApplicationFailure) return err.message;
  if (err instanceof Error) {
    // ActivityFailure wraps the activity's own error as its cause: that message is the useful one.
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : err.message;
  }
  return String(err);
}
