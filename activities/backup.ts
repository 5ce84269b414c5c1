import type { Pool } from '../src/db';
import type { ManifestTable } from '../src/backup/backup';
import { backupIdFor, dumpTable, tablesToBackUp, writeManifest } from '../src/backup/backup';
import { openStore } from '../src/backup/store';
import type { BackupTable } from '../src/backup/tables';
import type { BackupResult } from '../src/contracts';
import { heartbeating } from './common';

// Backup activities (workflows/backup.ts): plan (the id and the tables), one table at a time (streamed, hashed,
// counted), then the manifest and retention. Inputs and outputs are names, counts and checksums, never rows;
// the location is a folder or an s3:// URI, the store's credentials come from the worker's environment.

export interface PlanBackupInput {
  dataset: string;
  to: string;
}

export interface BackupTableInput {
  to: string;
  id: string;
  table: BackupTable;
}

export interface FinishBackupInput {
  dataset: string;
  to: string;
  id: string;
  createdAt: string;
  tables: ManifestTable[];
  keep?: number;
}

export function createBackupActivities(pool: Pool) {
  return {
    async planBackup(input: PlanBackupInput): Promise<{ id: string; createdAt: string; tables: BackupTable[] }> {
      const now = new Date();
      openStore(input.to); // a location that cannot be a backup target fails here
      return { id: backupIdFor(input.dataset, now), createdAt: now.toISOString(), tables: tablesToBackUp(input.dataset) };
    },

    async backupTable(input: BackupTableInput): Promise<ManifestTable> {
      return heartbeating((beat) => dumpTable(pool, openStore(input.to), input.id, input.table, beat));
    },

    async finishBackup(input: FinishBackupInput): Promise<BackupResult> {
      const store = openStore(input.to);
      const { manifest, removed } = await writeManifest(pool, store, { id: input.id, dataset: input.dataset, createdAt: input.createdAt, tables: input.tables }, input.keep);
      return {
        id: manifest.id,
        location: `${store.location.replace(/\/+$/, '')}/${manifest.id}`,
        dataset: manifest.dataset,
        tables: manifest.tables.length,
        rows: manifest.tables.reduce((s, t) => s + t.rows, 0),
        bytes: manifest.tables.reduce((s, t) => s + t.bytes, 0),
        periods: manifest.periods,
        removed,
      };
    },
  };
}
