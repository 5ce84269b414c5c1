import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { to as copyTo } from 'pg-copy-streams';
import type { Pool } from '../db';
import { withClient } from '../db';
import { getDataset } from '../datasets';
import type { BackupStore } from './store';
import type { BackupTable } from './tables';
import { backupTables, rowChecksum, selectOf, tableDdl } from './tables';

// Writing a backup: each table streamed with COPY TO STDOUT (CSV) through gzip into the store, hashed on the way,
// in a REPEATABLE READ transaction that also counts and checksums its rows; then the manifest. Memory stays bounded
// by the stream buffers whatever the table's size.

export const MANIFEST = 'manifest.json';
export const FORMAT = 'gudang-backup/1';

export interface ManifestTable extends BackupTable {
  file: string;
  rows: number;
  /** Order-independent checksum of the rows (see rowChecksum); a restore must reproduce it. */
  rowChecksum: string;
  bytes: number;
  sha256: string;
  columns: string[];
  /** CREATE TABLE and CREATE INDEX statements (warehouse and mart tables; ops tables come from the migrations). */
  ddl?: string[];
}

export interface Manifest {
  format: typeof FORMAT;
  id: string;
  dataset: string;
  createdAt: string;
  finishedAt: string;
  projectVersion: string;
  schemas: { warehouse: string; mart: string };
  /** Months loaded (ops.partitions) when the backup was taken. */
  periods: string[];
  tables: ManifestTable[];
}

export function projectVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `<dataset>-<UTC time to the millisecond>`, e.g. django-apparel-20261129T201500123Z: sorts by time. */
export function backupIdFor(dataset: string, at: Date): string {
  return `${dataset}-${at.toISOString().replace(/[-:.]/g, '')}`;
}

export const isBackupIdOf = (dataset: string, id: string) => id.startsWith(`${dataset}-`) && /-\d{8}T\d{9}Z$/.test(id);

export function tablesToBackUp(dataset: string): BackupTable[] {
  return backupTables(getDataset(dataset));
}

class Counter extends Transform {
  bytes = 0;
  readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.push(chunk);
    done();
  }
}

/** Streams one table into `<id>/<schema.table>.csv.gz`; returns its manifest entry. */
export async function dumpTable(pool: Pool, store: BackupStore, id: string, t: BackupTable, heartbeat?: (d: Record<string, unknown>) => void): Promise<ManifestTable> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const { rows, checksum } = await rowChecksum(client, t);
      const { create, indexes, columns } = await tableDdl(client, t.table);
      const file = `${t.table}.csv.gz`;
      const counter = new Counter();
      const out = new PassThrough();
      const copy = client.query(copyTo(`COPY (${selectOf(t)}) TO STDOUT WITH (FORMAT csv)`));
      const beat = setInterval(() => heartbeat?.({ phase: 'backup', table: t.table, bytes: counter.bytes, rows }), 1000);
      try {
        await Promise.all([pipeline(copy, createGzip({ level: 3 }), counter, out), store.write(`${id}/${file}`, out)]);
      } finally {
        clearInterval(beat);
      }
      await client.query('COMMIT');
      return {
        ...t,
        file,
        rows,
        rowChecksum: checksum,
        bytes: counter.bytes,
        sha256: counter.hash.digest('hex'),
        columns,
        ...(t.kind === 'ops' ? {} : { ddl: [create, ...indexes] }),
      };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** Writes the manifest (last: a backup without one is incomplete and ignored) and applies `keep` retention. */
export async function writeManifest(pool: Pool, store: BackupStore, m: Omit<Manifest, 'format' | 'finishedAt' | 'periods' | 'projectVersion' | 'schemas'>, keep?: number): Promise<{ manifest: Manifest; removed: string[] }> {
  const spec = getDataset(m.dataset);
  const { rows } = await pool.query<{ period: string }>(`SELECT period FROM ops.partitions WHERE dataset = $1 AND status = 'loaded' ORDER BY period`, [m.dataset]);
  const manifest: Manifest = {
    format: FORMAT,
    ...m,
    finishedAt: new Date().toISOString(),
    projectVersion: projectVersion(),
    schemas: { warehouse: spec.schemas.warehouse, mart: spec.schemas.mart },
    periods: rows.map((r) => r.period),
  };
  // Verified before it is made complete: every file read back from the store matches the sha256 taken while writing
  // it. A backup that does not verify gets no manifest (so list, restore and retention ignore it), and no older
  // backup is removed.
  const bad = (await checkFiles(store, manifest)).filter((f) => !f.ok);
  if (bad.length) {
    throw new Error(`backup ${m.id} does not verify (${bad.map((f) => `${f.file}: sha256 ${f.actual}, manifest ${f.expected}`).join('; ')}): it was not completed and no older backup was removed`);
  }
  const body = new PassThrough();
  body.end(JSON.stringify(manifest, null, 2));
  await store.write(`${m.id}/${MANIFEST}`, body);
  const removed = keep !== undefined ? await applyRetention(store, m.dataset, keep) : [];
  return { manifest, removed };
}

export interface FileCheck {
  file: string;
  ok: boolean;
  expected: string;
  actual: string;
  bytes: number;
}

/** Reads every file of a backup back from the store and compares its sha256 with the manifest's. */
export async function checkFiles(store: BackupStore, manifest: Manifest): Promise<FileCheck[]> {
  const files: FileCheck[] = [];
  for (const t of manifest.tables) {
    const hash = createHash('sha256');
    let bytes = 0;
    let actual: string;
    try {
      for await (const c of await store.read(`${manifest.id}/${t.file}`)) {
        hash.update(c as Buffer);
        bytes += (c as Buffer).length;
      }
      actual = hash.digest('hex');
    } catch (err) {
      actual = `unreadable: ${(err as Error).message}`;
    }
    files.push({ file: `${store.location.replace(/\/+$/, '')}/${manifest.id}/${t.file}`, ok: actual === t.sha256, expected: t.sha256, actual, bytes });
  }
  return files;
}

/**
 * Keeps the newest `keep` complete backups (those with a manifest) of the dataset at the location and removes every
 * older folder of it, complete or not. Folders newer than the oldest kept one are left alone even without a manifest:
 * a backup may be being written there.
 */
export async function applyRetention(store: BackupStore, dataset: string, keep: number): Promise<string[]> {
  const ids = (await store.listBackups()).filter((id) => isBackupIdOf(dataset, id)).sort();
  const complete: string[] = [];
  for (const id of ids) if (await hasManifest(store, id)) complete.push(id);
  if (complete.length <= keep) return [];
  const oldestKept = complete[complete.length - keep]!;
  const old = ids.filter((id) => id < oldestKept);
  for (const id of old) await store.removeBackup(id);
  return old;
}

async function hasManifest(store: BackupStore, id: string): Promise<boolean> {
  try {
    (await store.read(`${id}/${MANIFEST}`)).destroy();
    return true;
  } catch {
    return false;
  }
}
