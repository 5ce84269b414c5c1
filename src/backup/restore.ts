import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { from as copyFrom } from 'pg-copy-streams';
import type { Pool } from '../db';
import { withClient } from '../db';
import { migrate } from '../warehouse/migrate';
import type { Manifest } from './backup';
import { FORMAT, MANIFEST, checkFiles, isBackupIdOf } from './backup';
import type { FileCheck } from './backup';
import type { BackupStore } from './store';
import { qualified, rowChecksum } from './tables';

// Reading backups: list, verify (every file's sha256 against the manifest), restore into an empty database. A restore
// verifies first and refuses a backup whose checksums do not match, naming the file; it then creates the tables from
// the manifest's DDL, streams each file back with COPY FROM, and checks every table's row count and row checksum
// against the manifest before committing.

async function readText(store: BackupStore, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.read(name)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readManifest(store: BackupStore, id: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readText(store, `${id}/${MANIFEST}`);
  } catch (err) {
    throw new Error(`${store.location}/${id}: no readable ${MANIFEST} (${(err as Error).message}); an incomplete backup?`, { cause: err });
  }
  const m = JSON.parse(text) as Manifest;
  if (m.format !== FORMAT) throw new Error(`${store.location}/${id}/${MANIFEST}: format ${JSON.stringify(m.format)} is not ${FORMAT}`);
  return m;
}

/** Complete backups at the location (those with a manifest), oldest first; optionally of one dataset. */
export async function listBackups(store: BackupStore, dataset?: string): Promise<Manifest[]> {
  const ids = (await store.listBackups()).sort();
  const out: Manifest[] = [];
  for (const id of ids) {
    if (dataset && !isBackupIdOf(dataset, id)) continue;
    const m = await readManifest(store, id).catch(() => undefined);
    if (m) out.push(m);
  }
  return out;
}

/**
 * The backup `--from` names: the backup folder itself (it holds a manifest), or a location whose newest backup (of
 * `dataset`, when given) is taken. Returns the store of the location and the backup id.
 */
export async function resolveBackup(open: (loc: string) => BackupStore, from: string, dataset?: string): Promise<{ store: BackupStore; id: string }> {
  const trimmed = from.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  if (cut > 0) {
    const parent = open(trimmed.slice(0, cut + 1));
    const id = trimmed.slice(cut + 1);
    if (await readManifest(parent, id).then(() => true, () => false)) return { store: parent, id };
  }
  const store = open(from);
  const all = await listBackups(store, dataset);
  const newest = all[all.length - 1];
  if (!newest) throw new Error(`no complete backup${dataset ? ` of ${dataset}` : ''} at ${store.location}`);
  return { store, id: newest.id };
}

/** Recomputes every file's sha256. */
export async function verifyBackup(store: BackupStore, id: string): Promise<{ manifest: Manifest; files: FileCheck[] }> {
  const manifest = await readManifest(store, id);
  return { manifest, files: await checkFiles(store, manifest) };
}

/** Passes bytes through while hashing them. */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
}

export interface RestoreResult {
  manifest: Manifest;
  tables: { table: string; rows: number }[];
}

/**
 * Restores backup `id` into the database of `pool`, which must not hold any of its tables (nor ops rows of its
 * dataset). Verifies every checksum first; refuses a mismatch naming the file.
 */
export async function restoreBackup(store: BackupStore, id: string, pool: Pool, progress?: (line: string) => void): Promise<RestoreResult> {
  const { manifest, files } = await verifyBackup(store, id);
  const bad = files.find((f) => !f.ok);
  if (bad) throw new Error(`refusing to restore: ${bad.file} does not match the manifest (sha256 ${bad.actual}, manifest ${bad.expected})`);
  await migrate(pool);
  const taken = await pool.query<{ t: string }>(`SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL`, [
    manifest.tables.filter((t) => t.kind !== 'ops').map((t) => qualified(t.table)),
  ]);
  if (taken.rows.length) throw new Error(`refusing to restore into a database that already has ${taken.rows.map((r) => r.t).join(', ')}: restore into an empty database`);
  const ops = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ops.pipeline_runs WHERE dataset = $1`, [manifest.dataset]);
  if (Number(ops.rows[0]!.n) > 0) throw new Error(`refusing to restore: the database already has run history of ${manifest.dataset}`);

  const restored: RestoreResult['tables'] = [];
  await withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      for (const schema of new Set(manifest.tables.filter((t) => t.kind !== 'ops').map((t) => t.table.split('.')[0]!))) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${qualified(schema)}`);
      }
      for (const t of manifest.tables) {
        if (t.ddl) await client.query(t.ddl[0]!);
        const hasher = new Hasher();
        const cols = t.columns.map((c) => qualified(c)).join(', ');
        const copy = client.query(copyFrom(`COPY ${qualified(t.table)} (${cols}) FROM STDIN WITH (FORMAT csv)`));
        await pipeline(await store.read(`${id}/${t.file}`), hasher, createGunzip(), copy);
        const sha = hasher.hash.digest('hex');
        if (sha !== t.sha256) throw new Error(`refusing to restore: ${store.location}/${id}/${t.file} changed while being read (sha256 ${sha}, manifest ${t.sha256})`);
        for (const ddl of t.ddl?.slice(1) ?? []) await client.query(ddl);
        const check = await rowChecksum(client, t);
        if (check.rows !== t.rows || check.checksum !== t.rowChecksum) {
          throw new Error(`restore of ${t.table} does not reproduce the backup: ${check.rows} rows (checksum ${check.checksum}), manifest ${t.rows} (checksum ${t.rowChecksum})`);
        }
        restored.push({ table: t.table, rows: check.rows });
        progress?.(`restored ${t.table}: ${check.rows} rows`);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
  return { manifest, tables: restored };
}
