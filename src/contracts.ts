// Shared between workflows, activities, the worker and the client.
// Everything here must stay sandbox-safe: no Node built-ins, no I/O; types, constants and pure functions only.

import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import type { BackupResult, BackupTarget } from './contracts-backup';

export const DEFAULT_TASK_QUEUE = 'gudang';

/** Error types that mean "the input is wrong": retrying cannot help, the run fails fast. */
export const INPUT_ERROR_TYPES = [
  'SourceFileMissing',
  'SourceHeaderMismatch',
  'SourceRowInvalid',
  'SourceFormatError',
  'SourceDuplicateKey',
  'SourcePathRefused',
  'SourceAccessDenied',
  'SourceFetchFailed',
  'QualityGateFailed',
  'UnknownDataset',
  'ConfigError',
  'PublishConflict',
] as const;
export type InputErrorType = (typeof INPUT_ERROR_TYPES)[number];

/** The one retry policy: back off from 1 s to 30 s, 8 attempts, never retry bad input. */
export const RETRY_POLICY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
  nonRetryableErrorTypes: [...INPUT_ERROR_TYPES],
};

/**
 * Timeouts and retries per kind of activity; workflows build their proxies from these and nothing else.
 * - load: planLoad, loadChunk, publishLoad (and loadSource). They heartbeat every second (activities/common.ts):
 *   with a 10 s heartbeat timeout a dead worker is noticed, and its chunk handed to another, within seconds; the
 *   start-to-close timeout is only the outer bound for a very slow file.
 * - transform: buildModel, checkQuality (one SQL transaction each).
 * - bookkeeping: planRun and the run-history writes (small, quick statements).
 * - cleanup: discardLoad (best effort after a failure: a few attempts, then the sweep takes over).
 */
export const ACTIVITY_OPTIONS = {
  load: { startToCloseTimeout: '2 hours', heartbeatTimeout: '10 seconds', retry: RETRY_POLICY },
  transform: { startToCloseTimeout: '1 hour', retry: RETRY_POLICY },
  bookkeeping: { startToCloseTimeout: '1 minute', retry: RETRY_POLICY },
  cleanup: { startToCloseTimeout: '5 minutes', retry: { ...RETRY_POLICY, maximumAttempts: 3 } },
} as const satisfies Record<string, ActivityOptions>;

/** Input of one pipeline run. Only references travel through Temporal: paths and names, never rows. */
export interface PipelineInput {
  /** Dataset registry key, e.g. "django-apparel". */
  dataset: string;
  /** Directory holding the source files, as seen by the worker. */
  sourceDir: string;
  /** Run key, part of the workflow id; "full" for a full refresh. */
  runKey?: string;
  /** Logical period `YYYY-MM` to load; absent = full refresh of everything in the source. */
  period?: string;
  /** What started the run (shown in run history and as a search attribute). */
  trigger?: RunTrigger;
  /** Override of every source's reject budget for this run: "N" rows or "P%" of rows read. */
  rejectBudget?: string;
  /** Let a source with no rows (a header-only file) empty its staging table; without it such a load fails. */
  allowEmpty?: boolean;
  /**
   * Source database (the shop's PostgreSQL or MariaDB) as a URL WITHOUT password, e.g. postgres://shop@db:5432/shop:
   * the dataset's database-capable sources are read from its tables instead of files. The worker adds the password
   * from its own environment (src/sources/database.ts); a run's input never carries one.
   */
  sourceDb?: string;
  /**
   * Start at this step: "ingest" (the default, everything) or a layer name ("dimensions", "facts", "marts").
   * Earlier steps are skipped and recorded as skipped; a rerun of the transforms leaves staging untouched.
   */
  fromStep?: RunStepName;
  /**
   * IANA time zone of the schedule that started the run. A scheduled run without a period loads the month before
   * its scheduled time (TemporalScheduledStartTime) in this zone. Default DEFAULT_SCHEDULE_TIMEZONE.
   */
  timezone?: string;
  /** For a rerun: the workflow id and run id it redoes ("<workflowId>/<runId>"), kept in run history. */
  rerunOf?: string;
  /**
   * After a completed run, back up the dataset's warehouse here (a child backupWorkflow; `schedule create
   * --backup-to`). A folder or s3://bucket/prefix/ only: the store's credentials stay in the worker's environment.
   */
  backup?: BackupTarget;
}

export type RunTrigger = 'manual' | 'schedule' | 'backfill' | 'rerun' | 'demo';
export const RUN_TRIGGERS: readonly RunTrigger[] = ['manual', 'schedule', 'backfill', 'rerun', 'demo'];

/** Where a run can start: "ingest" (load every source) or one of the dataset's layers. */
export type RunStepName = 'ingest' | LayerName;

export type LayerName = string;

/** What the workflow needs to know about a dataset to orchestrate it (no schemas, no SQL). */
export interface RunPlan {
  dataset: string;
  sources: { name: string; file: string; table: string }[];
  /**
   * Per layer, its models in build order; `after` names, per model, the models of the same layer it reads (through
   * {{ ref() }}), which are built before it. Models without an entry build side by side.
   */
  layers: { name: LayerName; models: string[]; after?: Record<string, string[]> }[];
  /** Per source, the sources it refers to (the dataset's relations): their loads publish first. */
  parents?: Record<string, string[]>;
}

export interface LoadResult {
  source: string;
  file: string;
  table: string;
  sha256: string;
  rowsRead: number;
  rowsLoaded: number;
  rowsRejected: number;
  durationMs: number;
  /** Pieces the file was loaded in (parallel chunk activities; 1 for small files and non-CSV formats). */
  chunks?: number;
  /** The reject budget the load ran under: "N" rows or "P%". */
  rejectBudget?: string;
  /** The most common reasons rows were rejected (see ops.rejected_rows), most frequent first. */
  rejectKinds?: { kind: string; rows: number }[];
  /** Row numbers (from 1, after the header) of the first rejected rows. */
  firstRejectedRows?: number[];
  /**
   * A period read from a source database: what it changed in staging's month, i.e. the drift from the source it
   * repaired (rows the source had and staging lacked, rows that differed, rows staging had that the source no longer has).
   */
  repaired?: { inserted: number; updated: number; deleted: number };
  /**
   * Rows quarantined with their parent row, which this run rejected (an order line of a rejected order): in
   * ops.rejected_rows, not counted against the reject budget. rowsRead = rowsLoaded + rowsRejected + rowsQuarantined.
   */
  rowsQuarantined?: number;
  /**
   * Per relation of the dataset in which this source is the child: rows whose parent is missing (they load; the
   * models map them to the unknown member); ops.orphans lists the missing keys. Absent when no relation was checked.
   */
  orphans?: { columns: string[]; parent: string; rows: number; keys: number }[];
  /**
   * A read from a source database with a watermark column: rows above `above` (absent: a full read) up to `upTo`
   * were read; an incremental read says what it inserted into staging and what it updated there.
   */
  watermark?: { column: string; above?: string; upTo?: string; inserted?: number; updated?: number };
}

export interface ModelResult {
  model: string;
  layer: LayerName;
  table: string;
  rows: number;
  durationMs: number;
}

export interface GateCheckResult {
  check: string;
  table: string;
  passed: boolean;
  failures: number;
  sample: string[];
  /** Not queried: the table's own constraint guarantees it, e.g. "unique index fct_transactions_pkey". */
  enforcedBy?: string;
}

export interface GateResult {
  layer: LayerName;
  checks: GateCheckResult[];
  durationMs: number;
}

export type StepStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';

export interface StepProgress {
  step: string;
  kind: 'load' | 'model' | 'gate' | 'publish' | 'backup';
  status: StepStatus;
  /** Rows in the step's table afterwards (loads: rows loaded; models: rows in the table; gates: checks run). */
  rows?: number;
  durationMs?: number;
  error?: string;
  /** The phase it belongs to: "ingest" or a layer name. */
  phase?: RunStepName;
  /** The table it writes (loads, models) or checks (gates: the layer). */
  table?: string;
  /** Rows read (loads: rows read from the file). */
  rowsIn?: number;
  /** ISO times, workflow clock. */
  startedAt?: string;
  finishedAt?: string;
}

export interface PipelineProgress {
  dataset: string;
  runKey: string;
  phase: 'planning' | 'ingest' | LayerName | 'backup' | 'done' | 'failed' | 'cancelled';
  currentSteps: string[];
  steps: StepProgress[];
  /** The logical month loaded, YYYY-MM; absent for a full refresh. */
  period?: string;
  trigger?: RunTrigger;
  fromStep?: RunStepName;
  /** ISO time the run started (workflow clock). */
  startedAt?: string;
}

export interface PipelineSummary {
  dataset: string;
  runKey: string;
  workflowId: string;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Rows per table: staging tables from the loads, warehouse and mart tables from the models. */
  rows: Record<string, number>;
  loads: LoadResult[];
  models: ModelResult[];
  gates: GateResult[];
  /** Duration per step (activity), in start order. */
  steps: { step: string; durationMs: number }[];
  /** The logical month loaded, YYYY-MM; absent for a full refresh. */
  period?: string;
  trigger?: RunTrigger;
  /** The step the run started at, when not "ingest" (rerun --from-step). */
  fromStep?: RunStepName;
  /** Steps skipped because the run started at a later step (rerun --from-step). */
  skippedSteps?: string[];
  /** Rows per period written to ops.partitions by this run (the period's fact rows; every month after a full run). */
  partitions?: Record<string, number>;
  /** Data-quality findings of the run (ops.findings), at most FINDINGS_IN_SUMMARY of them, and how many in all. */
  findings?: { total: number; items: Finding[] };
  /** The backup taken after the run (input.backup). */
  backup?: BackupResult;
}

/** A data-quality finding that is not an error, e.g. a product id delivered with several names. */
export interface Finding {
  finding: string;
  key: string;
  detail: string;
}

/** Findings listed in a run's summary (the rest are in ops.findings). */
export const FINDINGS_IN_SUMMARY = 20;

export const progressQueryName = 'progress';

// ---------------------------------------------------------------------------------------------------------
// Run history (activities/ops.ts writes it, workflows/pipeline.ts reports it)

/** Who and what a run is: enough to write its ops.pipeline_runs row from any of the three activities. */
export interface RunRecord {
  dataset: string;
  period?: string;
  trigger: RunTrigger;
  runKey: string;
  fromStep?: RunStepName;
  rerunOf?: string;
  sourceDir: string;
  /** ISO time the run started (workflow clock). */
  startedAt: string;
}

/** One step's row in ops.step_runs. */
export interface StepRecord {
  step: string;
  seq: number;
  phase: string;
  kind: StepProgress['kind'];
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  rowsIn?: number;
  rowsOut?: number;
  error?: string;
}

export interface RecordRunStartInput {
  run: RunRecord;
  steps: StepRecord[];
}

export interface RecordStepsInput {
  steps: StepRecord[];
}

export type RunOutcome = 'completed' | 'failed' | 'cancelled';

export interface RecordRunEndInput {
  run: RunRecord;
  status: RunOutcome;
  /** ISO time the run ended (workflow clock). */
  finishedAt: string;
  error?: string;
  steps: StepRecord[];
}

export interface RecordRunEndResult {
  /** Fact rows per period now recorded in ops.partitions (only after a completed run). */
  partitions: Record<string, number>;
  /** Data-quality findings now recorded in ops.findings (only after a completed run of a dataset with a findings query). */
  findings?: { total: number; items: Finding[] };
}

// ---------------------------------------------------------------------------------------------------------
// Backfills (workflows/backfill.ts runs them, the CLI starts and follows them)

export interface BackfillInput {
  dataset: string;
  sourceDir: string;
  /** The months to load, in the order to load them. */
  periods: string[];
  rejectBudget?: string;
  /** The schedule whose settings it used, when started by `schedule backfill`. */
  scheduleId?: string;
}

export interface BackfillRun {
  period: string;
  workflowId: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  runId?: string;
  durationMs?: number;
  /** Fact rows of the month after its run. */
  rows?: number;
  error?: string;
}

export interface BackfillProgress {
  dataset: string;
  runs: BackfillRun[];
}

export interface BackfillSummary {
  dataset: string;
  workflowId: string;
  runs: BackfillRun[];
}

export const backfillProgressQueryName = 'backfillProgress';

export function workflowIdFor(dataset: string, runKey: string): string {
  return `gudang-${dataset}-${runKey}`;
}

/** Workflow id of a backfill of periods from..to: one per range, so starting the same backfill twice joins it. */
export function backfillWorkflowIdFor(dataset: string, from: string, to: string): string {
  return `gudang-${dataset}-backfill-${from}-to-${to}`;
}

/** Default schedule id of a dataset's monthly load. */
export function scheduleIdFor(dataset: string): string {
  return `gudang-${dataset}-monthly`;
}

export const DEFAULT_SCHEDULE_TIMEZONE = 'Asia/Jakarta';

// ---------------------------------------------------------------------------------------------------------
// Search attributes: registered on the dev server by src/dev/temporal-server.ts, and by the worker at start
// on any other server. Set by the client at start, upserted by the workflow when it learns its period.

export const SEARCH_ATTRIBUTE_NAMES = ['GudangDataset', 'GudangPeriod', 'GudangTrigger', 'GudangRunKey'] as const;
export const SA = {
  dataset: defineSearchAttributeKey('GudangDataset', SearchAttributeType.KEYWORD),
  /** "YYYY-MM", or "full" for a full refresh. */
  period: defineSearchAttributeKey('GudangPeriod', SearchAttributeType.KEYWORD),
  trigger: defineSearchAttributeKey('GudangTrigger', SearchAttributeType.KEYWORD),
  runKey: defineSearchAttributeKey('GudangRunKey', SearchAttributeType.KEYWORD),
  /** Set by the server on runs started by a schedule. */
  scheduledStartTime: defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME),
} as const;

export * from './contracts-periods';
export * from './contracts-stream';
export * from './contracts-backup';
