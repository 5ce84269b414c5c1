/**
 * gudang's backup or restore in its own process, so the benchmark times it from spawn to exit like pg_dump and
 * pg_restore, under the same /usr/bin/time (peak RSS). It calls the code the backup workflow's activities call
 * (dumpTable per table, then writeManifest, which verifies the files before writing the manifest) and restoreBackup,
 * without a Temporal server.
 *
 *   node dist/bench/backup-child.js backup --db URL --to DIR --dataset NAME [--only-kind warehouse,mart]
 *   node dist/bench/backup-child.js restore --db URL --from DIR --id ID
 *
 * Prints one JSON line: { id, tables, rows, bytes } or { tables, rows }.
 */
import pg from 'pg';
import { backupIdFor, dumpTable, tablesToBackUp, writeManifest } from '../../src/backup/backup';
import type { ManifestTable } from '../../src/backup/backup';
import { restoreBackup } from '../../src/backup/restore';
import { openStore } from '../../src/backup/store';

function arg(argv: string[], name: string): string {
  const i = argv.indexOf(name);
  const v = i === -1 ? undefined : argv[i + 1];
  if (!v) throw new Error(`backup-child: ${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: arg(argv, '--db'), max: 4, application_name: 'gudang-bench-backup' });
  try {
    if (argv[0] === 'backup') {
      const dataset = arg(argv, '--dataset');
      const kinds = argv.includes('--only-kind') ? arg(argv, '--only-kind').split(',') : undefined;
      const store = openStore(arg(argv, '--to'));
      const createdAt = new Date();
      const id = backupIdFor(dataset, createdAt);
      const tables: ManifestTable[] = [];
      for (const t of tablesToBackUp(dataset).filter((t) => !kinds || kinds.includes(t.kind))) tables.push(await dumpTable(pool, store, id, t));
      await writeManifest(pool, store, { id, dataset, createdAt: createdAt.toISOString(), tables });
      const out = { id, tables: tables.length, rows: tables.reduce((s, t) => s + t.rows, 0), bytes: tables.reduce((s, t) => s + t.bytes, 0) };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (argv[0] === 'restore') {
      const result = await restoreBackup(openStore(arg(argv, '--from')), arg(argv, '--id'), pool);
      process.stdout.write(`${JSON.stringify({ tables: result.tables.length, rows: result.tables.reduce((s, t) => s + t.rows, 0) })}\n`);
    } else {
      throw new Error('usage: backup-child backup|restore ...');
    }
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
