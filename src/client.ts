import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import path from 'node:path';
import { workflowIdFor } from './contracts';
import type { PipelineInput, PipelineSummary } from './contracts';
import type { Config } from './config';

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

export interface StartedRun {
  handle: WorkflowHandle;
  workflowId: string;
  runId: string;
  /** False when an identical run (same dataset and run key) was already running and we joined it. */
  started: boolean;
}

/**
 * Starts a pipeline run. The workflow id is derived from dataset and run key, so starting the same run twice
 * while it is in flight joins the running one instead of loading the same data twice.
 */
export async function startPipeline(client: Client, config: Config, input: PipelineInput): Promise<StartedRun> {
  const runKey = input.runKey ?? 'full';
  const workflowId = workflowIdFor(input.dataset, runKey);
  const sourceDir = path.resolve(input.sourceDir);
  const running = await isRunning(client, workflowId);
  const handle = await client.workflow.start('pipelineWorkflow', {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [{ ...input, sourceDir, runKey } satisfies PipelineInput],
    workflowIdConflictPolicy: 'USE_EXISTING',
    memo: { dataset: input.dataset, runKey, sourceDir },
  });
  return { handle, workflowId, runId: handle.firstExecutionRunId, started: !running };
}

async function isRunning(client: Client, workflowId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export function webUiLink(config: Config, workflowId: string, runId?: string): string {
  const base = config.TEMPORAL_UI_URL.replace(/\/$/, '');
  const ns = encodeURIComponent(config.TEMPORAL_NAMESPACE);
  return `${base}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}/history`;
}

/** The innermost failure message: for a failed run that is the step and the activity's own error. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  if (e instanceof WorkflowFailedError && e.cause) e = e.cause;
  const first = e instanceof Error ? e.message : String(e);
  return first;
}

export async function waitForSummary(handle: WorkflowHandle): Promise<PipelineSummary> {
  return (await handle.result()) as PipelineSummary;
}
