import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowExecutionDescription, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { fromPayloadsAtIndex } from '@temporalio/common';
import { normalizeSourceDir } from './sources/remote/uri';
import { SA, SEARCH_ATTRIBUTE_NAMES, backfillWorkflowIdFor, isPeriod, periodLabel, periodRange, workflowIdFor } from './contracts';
import type { BackfillInput, PipelineInput, PipelineSummary, RunTrigger } from './contracts';
import type { Config } from './config';
import { sourceDbLocator } from './sources/database';

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 5_000 });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

export interface StartedRun {
  handle: WorkflowHandle;
  workflowId: string;
  runId: string;
  /** False when an identical run (same dataset and run key) was already running and we joined it. */
  started: boolean;
}

/** "django-apparel: March 2022 (2022-03), manual" — the one-line summary the Web UI shows for a run. */
export function runTitle(dataset: string, period: string | undefined, trigger: RunTrigger, fromStep?: string): string {
  const what = period ? `${periodLabel(period)} (${period})` : 'full refresh';
  return `${dataset}: ${what}, ${trigger}${fromStep && fromStep !== 'ingest' ? ` from ${fromStep}` : ''}`;
}

/** Memo and search attributes of a run: what the Web UI lists and filters on. */
export function runIdentity(input: PipelineInput & { runKey: string; trigger: RunTrigger }) {
  const period = input.period ?? 'full';
  return {
    memo: {
      dataset: input.dataset,
      period,
      sourceDir: input.sourceDir,
      ...(input.sourceDb ? { sourceDb: sourceDbLocator(input.sourceDb) } : {}),
      trigger: input.trigger,
      runKey: input.runKey,
      ...(input.fromStep ? { fromStep: input.fromStep } : {}),
      ...(input.rerunOf ? { rerunOf: input.rerunOf } : {}),
    },
    typedSearchAttributes: [
      { key: SA.dataset, value: input.dataset },
      { key: SA.period, value: period },
      { key: SA.trigger, value: input.trigger },
      { key: SA.runKey, value: input.runKey },
    ],
    staticSummary: runTitle(input.dataset, input.period, input.trigger, input.fromStep),
  };
}

/**
 * Starts a pipeline run. The workflow id is derived from dataset and run key (the period, or "full"), so starting
 * the same run twice while it is in flight joins the running one instead of loading the same data twice, and
 * "the March 2022 load" is always gudang-<dataset>-2022-03.
 */
export async function startPipeline(client: Client, config: Config, input: PipelineInput): Promise<StartedRun> {
  if (input.period !== undefined && !isPeriod(input.period)) throw new Error(`period "${input.period}" is not YYYY-MM`);
  const runKey = input.runKey ?? input.period ?? 'full';
  const trigger = input.trigger ?? 'manual';
  const workflowId = workflowIdFor(input.dataset, runKey);
  const args: PipelineInput & { runKey: string; trigger: RunTrigger } = { ...input, sourceDir: normalizeSourceDir(input.sourceDir), runKey, trigger };
  // the source database travels as its locator: never a password in history
  if (input.sourceDb) args.sourceDb = sourceDbLocator(input.sourceDb);
  else delete args.sourceDb;
  const { handle, runId, started } = await startOrJoin(client, workflowId, () =>
    client.workflow.start('pipelineWorkflow', {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowId,
      args: [args],
      workflowIdConflictPolicy: 'FAIL',
      ...runIdentity(args),
    }),
  );
  return { handle, workflowId, runId, started };
}

export interface StartedBackfill {
  handle: WorkflowHandle;
  workflowId: string;
  runId: string;
  periods: string[];
  started: boolean;
}

/** Starts a backfill: one run per month from..to, in order (workflows/backfill.ts). The same range twice joins. */
export async function startBackfill(
  client: Client,
  config: Config,
  opts: { dataset: string; sourceDir: string; from: string; to: string; scheduleId?: string; rejectBudget?: string },
): Promise<StartedBackfill> {
  const periods = periodRange(opts.from, opts.to);
  const workflowId = backfillWorkflowIdFor(opts.dataset, opts.from, opts.to);
  const sourceDir = normalizeSourceDir(opts.sourceDir);
  const input: BackfillInput = { dataset: opts.dataset, sourceDir, periods, scheduleId: opts.scheduleId, rejectBudget: opts.rejectBudget };
  const range = `${opts.from}..${opts.to}`;
  const { handle, runId, started } = await startOrJoin(client, workflowId, () => client.workflow.start('backfillWorkflow', {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'FAIL',
    memo: { dataset: opts.dataset, periods: range, sourceDir, trigger: 'backfill', ...(opts.scheduleId ? { scheduleId: opts.scheduleId } : {}) },
    typedSearchAttributes: [
      { key: SA.dataset, value: opts.dataset },
      { key: SA.trigger, value: 'backfill' },
      { key: SA.runKey, value: `backfill-${range}` },
    ],
    staticSummary: `${opts.dataset}: backfill of ${periods.length} month${periods.length === 1 ? '' : 's'}, ${range}`,
  }));
  return { handle, workflowId, runId, periods, started };
}

/**
 * Starts a workflow, or joins the execution of the same id that is already running. The server decides
 * (conflict policy FAIL), so two starts at the same moment get one execution, one "started" and one "joined".
 */
async function startOrJoin(
  client: Client,
  workflowId: string,
  start: () => Promise<WorkflowHandleWithFirstExecutionRunId>,
): Promise<{ handle: WorkflowHandle; runId: string; started: boolean }> {
  try {
    const handle = await start();
    return { handle, runId: handle.firstExecutionRunId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const running = client.workflow.getHandle(workflowId);
    const { runId } = await running.describe();
    return { handle: client.workflow.getHandle(workflowId, runId), runId, started: false };
  }
}

export interface FoundRun {
  handle: WorkflowHandle;
  description: WorkflowExecutionDescription;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Finds a run by what a person has at hand: a workflow id (its latest run), "<workflow id>/<run id>", or a bare
 * Temporal run id (looked up through visibility). Undefined when there is no such run.
 */
export async function findRun(client: Client, id: string): Promise<FoundRun | undefined> {
  const describe = async (workflowId: string, runId?: string): Promise<FoundRun | undefined> => {
    try {
      const handle = client.workflow.getHandle(workflowId, runId);
      const description = await handle.describe();
      return { handle: client.workflow.getHandle(workflowId, description.runId), description };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };
  const slash = id.lastIndexOf('/');
  if (slash > 0 && UUID.test(id.slice(slash + 1))) return describe(id.slice(0, slash), id.slice(slash + 1));
  if (UUID.test(id)) {
    for await (const wf of client.workflow.list({ query: `RunId = "${id}"`, pageSize: 1 })) return describe(wf.workflowId, wf.runId);
  }
  return describe(id);
}

/** The input a run was started with (first event of its history). */
export async function runInput<T = PipelineInput>(client: Client, handle: WorkflowHandle): Promise<T> {
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new Error(`history of ${handle.workflowId} does not start with WorkflowExecutionStarted`);
  return fromPayloadsAtIndex<T>(client.options.loadedDataConverter.payloadConverter, 0, started.input?.payloads);
}

/**
 * Registers gudang's search attributes (Keyword) on servers that lack them; the dev server registers them
 * itself. Idempotent: a no-op when all are there. Returns the names it registered. When they are missing and
 * cannot be registered (no operator rights, a cloud namespace), it fails naming them and the command that adds them.
 */
export async function ensureSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTE_NAMES.filter((name) => !customAttributes?.[name]);
  if (missing.length === 0) return [];
  // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD = 2
  const searchAttributes = Object.fromEntries(missing.map((name) => [name, 2]));
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    // Another worker or command registered them at the same moment.
    if (!/already exists/i.test((err as Error).message)) throw new Error(missingSearchAttributesMessage(namespace, missing, err), { cause: err });
  }
  return missing;
}

/** "namespace X lacks ...; register them with: temporal operator search-attribute create ..." */
export function missingSearchAttributesMessage(namespace: string, missing: readonly string[], err: unknown): string {
  const names = missing.join(', ');
  const create = `temporal operator search-attribute create --namespace ${namespace} ${missing.map((n) => `--name ${n} --type Keyword`).join(' ')}`;
  return (
    `Temporal namespace "${namespace}" lacks gudang's search attribute${missing.length > 1 ? 's' : ''} ${names}, and registering ` +
    `${missing.length > 1 ? 'them' : 'it'} failed (${err instanceof Error ? err.message : String(err)}). Register ${missing.length > 1 ? 'them' : 'it'} ` +
    `as a namespace admin: ${create}`
  );
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
