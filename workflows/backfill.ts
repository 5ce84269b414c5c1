import { ApplicationFailure, defineQuery, executeChild, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { SA, backfillProgressQueryName, periodLabel, workflowIdFor } from '../src/contracts';
import type { BackfillInput, BackfillProgress, BackfillSummary, PipelineInput, PipelineSummary } from '../src/contracts';
import { pipelineWorkflow } from './pipeline';

// A backfill: one pipeline run per month, oldest first, each a child workflow with the same id a manual run of
// that month gets (gudang-<dataset>-<YYYY-MM>), tagged trigger=backfill. The next month starts only when the
// previous one completed; the first failure stops the backfill and names the month.

export const backfillProgressQuery = defineQuery<BackfillProgress>(backfillProgressQueryName);

export async function backfillWorkflow(input: BackfillInput): Promise<BackfillSummary> {
  const progress: BackfillProgress = {
    dataset: input.dataset,
    runs: input.periods.map((period) => ({ period, workflowId: workflowIdFor(input.dataset, period), status: 'pending' })),
  };
  setHandler(backfillProgressQuery, () => progress);
  const show = (now: string) => {
    const done = progress.runs.filter((r) => r.status === 'completed').length;
    setCurrentDetails(`**${input.dataset}** backfill ${input.periods[0]} to ${input.periods.at(-1)}: ${done}/${progress.runs.length} months loaded  \n${now}`);
  };

  for (const run of progress.runs) {
    run.status = 'running';
    show(`loading ${periodLabel(run.period)}`);
    const args: PipelineInput = {
      dataset: input.dataset,
      sourceDir: input.sourceDir,
      period: run.period,
      runKey: run.period,
      trigger: 'backfill',
      rejectBudget: input.rejectBudget,
    };
    try {
      const summary: PipelineSummary = await executeChild(pipelineWorkflow, {
        workflowId: run.workflowId,
        args: [args],
        memo: { dataset: input.dataset, period: run.period, sourceDir: input.sourceDir, trigger: 'backfill', runKey: run.period, backfill: workflowInfo().workflowId },
        typedSearchAttributes: [
          { key: SA.dataset, value: input.dataset },
          { key: SA.period, value: run.period },
          { key: SA.trigger, value: 'backfill' },
          { key: SA.runKey, value: run.period },
        ],
        staticSummary: `${input.dataset}: ${periodLabel(run.period)} (${run.period}), backfill`,
      });
      run.status = 'completed';
      run.runId = summary.runId;
      run.durationMs = summary.durationMs;
      run.rows = summary.partitions?.[run.period];
    } catch (err) {
      run.status = 'failed';
      run.error = innermostMessage(err);
      show(`stopped at ${run.period}`);
      throw ApplicationFailure.create({ message: `backfill stopped at ${run.period}: ${run.error}`, type: 'BackfillFailed', nonRetryable: true, cause: err instanceof Error ? err : undefined });
    }
  }
  show('done');
  return { dataset: input.dataset, workflowId: workflowInfo().workflowId, runs: progress.runs };
}

/** ChildWorkflowFailure -> ApplicationFailure (the pipeline's own message). */
function innermostMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as Error & { cause?: unknown }).cause instanceof Error) {
    const cause = (e as Error & { cause: Error }).cause;
    // Stop at the pipeline's own failure: its message names the step; deeper causes repeat it.
    if (e instanceof ApplicationFailure) break;
    e = cause;
  }
  return e instanceof Error ? e.message : String(e);
}
