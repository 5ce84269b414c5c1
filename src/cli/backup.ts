import { parseArgs } from 'node:util';
import { webUiLink } from '../client';
import { backupWorkflowIdFor } from '../contracts';
import type { BackupInput, BackupProgress, BackupResult } from '../contracts';
import { redactUrl as redactUrlForLog } from '../config';
import { createPool } from '../db';
import { listBackups, resolveBackup, restoreBackup, verifyBackup } from '../backup/restore';
import { openStore } from '../backup/store';
import { normalizeSourceDir } from '../sources/remote/uri';
import { EXIT, UsageError, checkDataset, config, connect, positiveInt } from './common';

export const BACKUP_HELP = `usage: gudang backup <create|list|verify|restore> [options]

  create  --to DIR|s3://bucket/prefix/ [--dataset NAME] [--keep N] [--no-wait]
          back up the dataset's warehouse and mart tables and its run history (a Temporal workflow of its own:
          progress and result as for a run); --keep N keeps the newest N backups of the dataset there
  list    --from DIR|s3://... [--dataset NAME]      backups at a location: id, time, tables, rows, size
  verify  --from DIR|s3://...[/ID] [--dataset NAME] recompute every file's sha256 against the manifest
  restore --from DIR|s3://...[/ID] --into DATABASE_URL [--dataset NAME]
          restore into an empty database (verified first; refuses a file whose checksum does not match)

--from is a backup folder, or a location whose newest backup (of --dataset) is taken. S3 credentials and endpoint
come from the environment (docs/remote-sources.md), never from the command line.

exit codes: 0 ok, 1 failed (or a checksum did not match), 2 bad usage, 3 Temporal unreachable`;

const OPTIONS = {
  to: { type: 'string' },
  from: { type: 'string' },
  into: { type: 'string' },
  dataset: { type: 'string' },
  keep: { type: 'string' },
  'no-wait': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function formatBackupResult(r: BackupResult): string {
  const removed = r.removed.length ? `; removed ${r.removed.length} older (${r.removed.join(', ')})` : '';
  return `backup ${r.id}: ${r.tables} tables, ${r.rows} rows, ${mb(r.bytes)} at ${r.location}; periods ${r.periods.join(', ') || '(none)'}${removed}`;
}

async function create(values: Record<string, unknown>): Promise<number> {
  const cfg = config();
  const dataset = checkDataset((values.dataset as string | undefined) ?? cfg.GUDANG_DATASET, 'backup create');
  if (!values.to) throw new UsageError('backup create: --to DIR|s3://bucket/prefix/ is required');
  const input: BackupInput = { dataset, to: normalizeSourceDir(values.to as string) };
  if (values.keep !== undefined) input.keep = positiveInt(values.keep as string, '--keep', 1);
  const client = await connect(cfg);
  const workflowId = backupWorkflowIdFor(dataset, new Date().toISOString().replace(/[-:.]/g, ''));
  const handle = await client.workflow.start('backupWorkflow', { taskQueue: cfg.TEMPORAL_TASK_QUEUE, workflowId, args: [input], memo: { dataset, to: input.to, trigger: 'manual' } });
  console.log(`started ${workflowId} (run ${handle.firstExecutionRunId})`);
  console.log(`web ui: ${webUiLink(cfg, workflowId, handle.firstExecutionRunId)}`);
  if (values['no-wait']) return EXIT.ok;
  const printed = new Set<string>();
  const poll = setInterval(() => {
    handle.query<BackupProgress>('backupProgress').then(
      (p) => {
        for (const t of p.tables) {
          if (t.status === 'completed' && !printed.has(t.table)) {
            printed.add(t.table);
            console.log(`  ${t.table}: ${t.rows} rows, ${mb(t.bytes ?? 0)}`);
          }
        }
      },
      () => undefined,
    );
  }, 1000);
  try {
    const result = (await handle.result()) as BackupResult;
    console.log(formatBackupResult(result));
    return EXIT.ok;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    console.error(`backup failed: ${cause?.message ?? (err as Error).message}`);
    return EXIT.runFailed;
  } finally {
    clearInterval(poll);
  }
}

async function list(values: Record<string, unknown>): Promise<number> {
  if (!values.from) throw new UsageError('backup list: --from DIR|s3://... is required');
  const store = openStore(normalizeSourceDir(values.from as string));
  const all = await listBackups(store, values.dataset as string | undefined);
  if (all.length === 0) console.log(`no backups at ${store.location}`);
  for (const m of all) {
    const rows = m.tables.reduce((s, t) => s + t.rows, 0);
    const bytes = m.tables.reduce((s, t) => s + t.bytes, 0);
    console.log(`${m.id}  ${m.createdAt}  ${m.dataset}  ${m.tables.length} tables  ${rows} rows  ${mb(bytes)}  periods ${m.periods.join(',') || '-'}  v${m.projectVersion}`);
  }
  return EXIT.ok;
}

async function verify(values: Record<string, unknown>): Promise<number> {
  if (!values.from) throw new UsageError('backup verify: --from DIR|s3://... is required');
  const { store, id } = await resolveBackup(openStore, normalizeSourceDir(values.from as string), values.dataset as string | undefined);
  const { files } = await verifyBackup(store, id);
  for (const f of files) console.log(`${f.ok ? 'ok      ' : 'MISMATCH'}  ${f.file}${f.ok ? '' : `  sha256 ${f.actual}, manifest ${f.expected}`}`);
  const bad = files.filter((f) => !f.ok);
  console.log(bad.length ? `${bad.length} of ${files.length} files do not match the manifest of ${id}` : `all ${files.length} files of ${id} match the manifest`);
  return bad.length ? EXIT.runFailed : EXIT.ok;
}

async function restore(values: Record<string, unknown>): Promise<number> {
  if (!values.from) throw new UsageError('backup restore: --from DIR|s3://... is required');
  if (!values.into) throw new UsageError('backup restore: --into DATABASE_URL is required');
  const { store, id } = await resolveBackup(openStore, normalizeSourceDir(values.from as string), values.dataset as string | undefined);
  const pool = createPool(values.into as string);
  try {
    console.log(`restoring ${id} from ${store.location} into ${redactUrlForLog(values.into as string)}`);
    const result = await restoreBackup(store, id, pool, (line) => console.log(`  ${line}`));
    console.log(`restored ${result.tables.length} tables, ${result.tables.reduce((s, t) => s + t.rows, 0)} rows; row counts and row checksums match the manifest`);
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}

export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const sub = positionals[0];
  if (values.help || !sub) {
    console.log(BACKUP_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (positionals.length > 1) throw new UsageError(`backup ${sub}: unexpected argument "${positionals[1]}"`);
  switch (sub) {
    case 'create':
      return create(values);
    case 'list':
      return list(values);
    case 'verify':
      return verify(values);
    case 'restore':
      return restore(values);
    default:
      throw new UsageError(`backup: unknown subcommand "${sub}" (create, list, verify, restore)`);
  }
}
