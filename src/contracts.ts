// Shared between workflows, activities, the worker and the client.
// Everything here must stay sandbox-safe: no Node built-ins, no I/O, types and constants only.

export const DEFAULT_TASK_QUEUE = 'gudang';

/** Error types that mean "the input is wrong": retrying cannot help, the run fails fast. */
export const INPUT_ERROR_TYPES = [
  'SourceFileMissing',
  'SourceHeaderMismatch',
  'SourceRowInvalid',
  'SourceFormatError',
  'SourceDuplicateKey',
  'QualityGateFailed',
  'UnknownDataset',
  'ConfigError',
] as const;
export type InputErrorType = (typeof INPUT_ERROR_TYPES)[number];

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
}

export type RunTrigger = 'manual' | 'schedule' | 'backfill' | 'rerun' | 'demo';

export type LayerName = string;

/** What the workflow needs to know about a dataset to orchestrate it (no schemas, no SQL). */
export interface RunPlan {
  dataset: string;
  sources: { name: string; file: string; table: string }[];
  layers: { name: LayerName; models: string[] }[];
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
}

export interface GateResult {
  layer: LayerName;
  checks: GateCheckResult[];
  durationMs: number;
}

export type StepStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface StepProgress {
  step: string;
  kind: 'load' | 'model' | 'gate';
  status: StepStatus;
  rows?: number;
  durationMs?: number;
  error?: string;
}

export interface PipelineProgress {
  dataset: string;
  runKey: string;
  phase: 'planning' | 'ingest' | LayerName | 'done' | 'failed';
  currentSteps: string[];
  steps: StepProgress[];
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
}

export const progressQueryName = 'progress';

export function workflowIdFor(dataset: string, runKey: string): string {
  return `gudang-${dataset}-${runKey}`;
}
