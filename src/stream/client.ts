import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../config';
import { SA, streamStatusQueryName, streamStopSignalName, streamWorkflowIdFor } from '../contracts';
import type { StreamInput, StreamResult, StreamStatus, StreamStopRequest } from '../contracts';
import { normalizeSourceDir } from '../sources/remote/uri';
import { sourceDbLocator } from '../sources/database';

// Starting, asking and stopping a dataset's stream (workflows/stream.ts) from a client. The source database goes
// into the workflow as its locator only: a password in the URL given here is dropped (the worker has its own).

/** What `stream start` takes: the stream's input, its source database as a URL (a password in it is not sent). */
export type StartStreamInput = Pick<StreamInput, 'dataset' | 'sourceDir' | 'sourceDb' | 'stretchMs' | 'stretchesPerRun' | 'rejectBudget'>;

export class StreamAlreadyRunning extends Error {}

export async function startStream(client: Client, config: Config, input: StartStreamInput): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const workflowId = streamWorkflowIdFor(input.dataset);
  const locator = sourceDbLocator(input.sourceDb);
  const args: StreamInput = { dataset: input.dataset, sourceDir: normalizeSourceDir(input.sourceDir), sourceDb: locator };
  if (input.stretchMs !== undefined) args.stretchMs = input.stretchMs;
  if (input.stretchesPerRun !== undefined) args.stretchesPerRun = input.stretchesPerRun;
  if (input.rejectBudget !== undefined) args.rejectBudget = input.rejectBudget;
  try {
    return await client.workflow.start('streamWorkflow', {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowId,
      args: [args],
      workflowIdConflictPolicy: 'FAIL',
      memo: { dataset: input.dataset, sourceDb: locator },
      typedSearchAttributes: [
        { key: SA.dataset, value: input.dataset },
        { key: SA.runKey, value: 'stream' },
      ],
      staticSummary: `${input.dataset}: real-time stream from ${locator}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new StreamAlreadyRunning(`the stream of ${input.dataset} is already running (workflow ${workflowId})`);
    throw err;
  }
}

export function streamHandle(client: Client, dataset: string): WorkflowHandle {
  return client.workflow.getHandle(streamWorkflowIdFor(dataset));
}

export async function queryStream(client: Client, dataset: string): Promise<StreamStatus> {
  return streamHandle(client, dataset).query<StreamStatus>(streamStatusQueryName);
}

/** Signals stop and waits for the workflow to end: its batch in hand committed and confirmed. */
export async function stopStream(client: Client, dataset: string, req: StreamStopRequest = {}): Promise<StreamResult> {
  const handle = streamHandle(client, dataset);
  await handle.signal(streamStopSignalName, req);
  return (await handle.result()) as StreamResult;
}
