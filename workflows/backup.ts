import { defineQuery, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ManifestTable } from '../src/backup/backup';
import { ACTIVITY_OPTIONS } from '../src/contracts';
import type { BackupInput, BackupProgress, BackupResult } from '../src/contracts';

// A backup of one dataset's warehouse, marts and run history, as a workflow of its own: plan, one activity per table
// (each streamed, hashed and counted; a retried table is simply written again), then the manifest and retention.
// Its progress is a query (and the Web UI's current details), like a pipeline run's.

const { planBackup, finishBackup } = proxyActivities<Activities>(ACTIVITY_OPTIONS.bookkeeping);
const { backupTable } = proxyActivities<Activities>(ACTIVITY_OPTIONS.load);

export const backupProgressQuery = defineQuery<BackupProgress>('backupProgress');

export async function backupWorkflow(input: BackupInput): Promise<BackupResult> {
  const progress: BackupProgress = { dataset: input.dataset, to: input.to, status: 'planning', tables: [] };
  setHandler(backupProgressQuery, () => progress);
  const plan = await planBackup({ dataset: input.dataset, to: input.to });
  progress.id = plan.id;
  progress.status = 'running';
  progress.tables = plan.tables.map((t) => ({ table: t.table, status: 'pending' }));
  const done: ManifestTable[] = [];
  for (const [i, table] of plan.tables.entries()) {
    progress.tables[i]!.status = 'running';
    setCurrentDetails(`backup ${plan.id}: table ${i + 1}/${plan.tables.length} ${table.table}`);
    const entry = await backupTable.executeWithOptions({ summary: `backup ${table.table}` }, [{ to: input.to, id: plan.id, table }]);
    progress.tables[i] = { table: table.table, status: 'completed', rows: entry.rows, bytes: entry.bytes };
    done.push(entry);
  }
  const result = await finishBackup({ dataset: input.dataset, to: input.to, id: plan.id, createdAt: plan.createdAt, tables: done, keep: input.keep });
  progress.status = 'completed';
  progress.result = result;
  setCurrentDetails(`backup ${result.id}: ${result.tables} tables, ${result.rows} rows, ${result.bytes} bytes at ${result.location}`);
  return result;
}
