import { ApplicationFailure, executeChild, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

import { backupWorkflow } from './backup';
import { errorMessage } from './failures';
import { ACTIVITY_OPTIONS } from '../src/contracts';
import type { BackupResult, PipelineInput, PipelineProgress, PipelineSummary, StepRecord } from '../src/contracts';

const { recordSteps } = proxyActivities<Activities>(ACTIVITY_OPTIONS.bookkeeping);

export const BACKUP_STEP = 'backup';

/**
 * The run's last step when its input asks for one (`schedule create --backup-to`): a backup of the dataset's warehouse
 * as a child backupWorkflow (its own progress, in the Web UI under this run), taken after the run is recorded, so
 * its manifest lists the month just loaded. Retention happens inside it, only after the new backup verifies. A failed
 * backup fails the workflow (the schedule's pause-on-failure applies) while the load stays completed and published.
 */
export async function backupAfterRun(
  input: PipelineInput,
  summary: PipelineSummary,
  progress: PipelineProgress,
  records: () => StepRecord[],
  showDetails: () => void,
): Promise<BackupResult> {
  const target = input.backup!;
  const entry = progress.steps.find((s) => s.step === BACKUP_STEP)!;
  entry.status = 'running';
  entry.startedAt = new Date().toISOString();
  progress.phase = 'backup';
  progress.currentSteps = [BACKUP_STEP];
  showDetails();
  try {
    const result = await executeChild(backupWorkflow, {
      workflowId: `${summary.workflowId}-backup`,
      args: [{ dataset: input.dataset, to: target.to, ...(target.keep !== undefined ? { keep: target.keep } : {}) }],
      memo: { dataset: input.dataset, to: target.to, trigger: 'after-run', runId: summary.runId },
    });
    entry.status = 'completed';
    entry.rows = result.rows;
    entry.table = result.location;
    return result;
  } catch (err) {
    entry.status = 'failed';
    entry.error = errorMessage(err);
    throw ApplicationFailure.create({
      message: `${BACKUP_STEP}: ${entry.error} (the run itself completed and is published)`,
      type: 'BackupFailed',
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  } finally {
    entry.finishedAt = new Date().toISOString();
    entry.durationMs = Date.parse(entry.finishedAt) - Date.parse(entry.startedAt);
    progress.currentSteps = [];
    progress.phase = entry.status === 'completed' ? 'done' : 'failed';
    showDetails();
    await recordSteps({ steps: records() }).catch(() => undefined);
  }
}
