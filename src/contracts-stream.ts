// Shared between workflows, activities, the worker and the client (re-exported by src/contracts.ts).
// Sandbox-safe: types, constants and pure functions only.

// ---------------------------------------------------------------------------------------------------------
// Real-time stream (workflows/stream.ts): one long-running workflow per dataset.

export function streamWorkflowIdFor(dataset: string): string {
  return `gudang-${dataset}-stream`;
}

export interface StreamInput {
  dataset: string;
  /** Directory of the file sources (the initial load reads the other sources there). */
  sourceDir: string;
  /** Source database URL WITHOUT password (PostgreSQL with wal_level=logical). */
  sourceDb: string;
  /** How long one runStream activity captures before it returns (default 60 s). */
  stretchMs?: number;
  /** Stretches per workflow run before it continues as new (default 30; history stays a few hundred events). */
  stretchesPerRun?: number;
  /** Reject budget of the initial full run ("N" or "P%"; default: each source's own, as a pipeline run). */
  rejectBudget?: string;
  /** Set when the workflow continues as new: the slot exists and the initial load is done. */
  prepared?: boolean;
  /** Totals carried across continue-as-new. */
  totals?: { stretches: number; batches: number; changes: number; lastLagMs?: number | null; appliedLsn?: string | null };
}

/** What one runStream activity did. */
export interface StreamProgress {
  batches: number;
  changes: number;
  appliedLsn: string | null;
  lastLagMs: number | null;
  maxLagMs: number;
  retainedWalBytes: number | null;
  /** Set while batches are held because a pipeline run of the dataset is in progress (its workflow id). */
  heldBy?: string;
}

export interface StreamStatus {
  dataset: string;
  phase: 'preparing' | 'initial load' | 'streaming' | 'stopping' | 'stopped';
  stretches: number;
  batches: number;
  changes: number;
  appliedLsn: string | null;
  lastLagMs: number | null;
  retainedWalBytes: number | null;
  /** Workflow clock, ISO. */
  updatedAt: string;
}

export const streamStatusQueryName = 'streamStatus';
export const streamStopSignalName = 'stop';

/** The stop signal's argument: drop the slot (and publication) on the source, or keep it so a restart loses nothing. */
export interface StreamStopRequest {
  dropSlot?: boolean;
}

/** What the stream workflow returns when stopped. */
export interface StreamResult extends StreamStatus {
  slotDropped: boolean;
}
