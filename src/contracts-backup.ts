// Shared between workflows, activities, the worker and the client (re-exported by src/contracts.ts).
// Sandbox-safe: types, constants and pure functions only.

/** Input of a backup run (workflows/backup.ts). The location holds no credentials (the worker's environment does). */
export interface BackupInput {
  dataset: string;
  /** A folder or s3://bucket/prefix/. */
  to: string;
  /** Keep this many newest backups of the dataset at the location (older ones are removed); absent: keep all. */
  keep?: number;
}

/** Where a backup goes and how many to keep: a schedule's `--backup-to` / `--backup-keep`. */
export interface BackupTarget {
  /** A folder or s3://bucket/prefix/ (no credentials in it). */
  to: string;
  /** Keep this many newest backups of the dataset there; older ones go only after the new one is verified. */
  keep?: number;
}

export interface BackupResult {
  id: string;
  /** Where the backup folder is. */
  location: string;
  dataset: string;
  tables: number;
  rows: number;
  bytes: number;
  /** Months loaded when it was taken. */
  periods: string[];
  /** Older backups removed by --keep. */
  removed: string[];
}

export interface BackupProgress {
  dataset: string;
  to: string;
  id?: string;
  status: 'planning' | 'running' | 'completed';
  tables: { table: string; status: 'pending' | 'running' | 'completed'; rows?: number; bytes?: number }[];
  result?: BackupResult;
}

export const backupWorkflowIdFor = (dataset: string, key: string) => `gudang-backup-${dataset}-${key}`;
