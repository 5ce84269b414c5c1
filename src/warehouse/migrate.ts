import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { transaction, withClient } from '../db';

/** Absolute path of the repository's sql/ directory (migrations, models, singular tests). */
export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

/**
 * Key of the session-level advisory lock that serialises migrations across workers
 * ('gudang' + 'migr' as bytes). Two workers starting together: one applies, the other waits, then finds
 * nothing left to do.
 */
export const MIGRATION_LOCK_KEY = 0x67756467_6d696772n;

const MIGRATION_FILE = /^[0-9A-Za-z_.-]+\.sql$/;

/** sha256 of a migration's text, line endings normalised so a CRLF checkout does not look like an edit. */
export function migrationChecksum(sqlText: string): string {
  return createHash('sha256').update(sqlText.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * Applies `<sqlDir>/migrations/*.sql` in name order, each once, each in its own transaction together with its
 * row in ops.schema_migrations (name, checksum, applied_at). Runs under a PostgreSQL advisory lock, so concurrent
 * callers are safe. An applied migration whose file changed since (different checksum) is an error: write a
 * new migration instead. Returns the names applied by this call (empty when the database was up to date).
 */
export async function migrate(pool: pg.Pool, sqlDir: string = SQL_DIR): Promise<string[]> {
  const dir = join(sqlDir, 'migrations');
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new Error(`migrations directory ${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const names = entries.filter((n) => n.endsWith('.sql')).sort();
  for (const name of names) {
    if (!MIGRATION_FILE.test(name)) throw new Error(`migration file name ${JSON.stringify(name)} has unexpected characters`);
  }
  const files = await Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name), 'utf8');
      return { name, sql, checksum: migrationChecksum(sql) };
    }),
  );

  // A session-level lock over several transactions. If anything fails, withClient destroys the connection,
  // which also releases the lock.
  return withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    // The ledger has to exist before the first migration can be recorded; under the lock this cannot race.
    // Only created when missing: a restricted pipeline role (sql/roles/) may not CREATE in the database,
    // and PostgreSQL refuses CREATE SCHEMA IF NOT EXISTS without that privilege even when the schema exists.
    const { rows: ledger } = await client.query<{ t: string | null }>(`SELECT to_regclass('ops.schema_migrations')::text AS t`);
    if (!ledger[0]?.t) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ops`);
      await client.query(`CREATE TABLE IF NOT EXISTS ops.schema_migrations (
        name       text        PRIMARY KEY,
        checksum   text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    }
    const { rows } = await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM ops.schema_migrations');
    const applied = new Map(rows.map((r) => [r.name, r.checksum]));

    const changed = files.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum);
    if (changed.length > 0) {
      throw new Error(
        `migration${changed.length > 1 ? 's' : ''} ${changed.map((f) => f.name).join(', ')} changed after being applied ` +
          `(checksum differs from ops.schema_migrations); add a new migration instead of editing an applied one`,
      );
    }

    const done: string[] = [];
    for (const file of files) {
      if (applied.has(file.name)) continue;
      try {
        await transaction(client, async () => {
          await client.query(file.sql);
          await client.query('INSERT INTO ops.schema_migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
        });
      } catch (err) {
        throw new Error(`migration ${file.name} failed (in ${dir}): ${(err as Error).message}; fix it and start again (the migrations before it stay applied)`, { cause: err });
      }
      done.push(file.name);
    }
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
    return done;
  });
}
