/**
 * A fresh, uniquely named PostgreSQL database per test (file), on the server
 * given by TEST_DATABASE_URL, else DATABASE_URL, else the local default.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_TEST_SERVER_URL = 'postgres://root@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  /** Pool on the new database (ended by drop()). */
  pool: pg.Pool;
  /** Ends the pool and drops the database (WITH (FORCE)). Idempotent. */
  drop(): Promise<void>;
}

export function testServerUrl(): string {
  return process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_TEST_SERVER_URL;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Lower-case identifier, unique per call: <prefix>_<time>_<pid>_<random>, at most 63 bytes. */
function uniqueName(prefix: string): string {
  const safePrefix = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^[^a-z_]/, '_$&');
  const suffix = `${Date.now().toString(36)}_${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`;
  return `${safePrefix.slice(0, 63 - suffix.length - 1)}_${suffix}`;
}

async function withAdminClient<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `Cannot connect to the test PostgreSQL server at ${redact(serverUrl)}: ${(err as Error).message}. ` +
        `Set TEST_DATABASE_URL to a server where this user may CREATE DATABASE, or start the local one.`,
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createTestDatabase(prefix = 'gudang_test'): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const name = uniqueName(prefix);
  await withAdminClient(serverUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));

  const url = withDatabase(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client losing its connection (e.g. the database being dropped)
  // must not crash the test process.
  pool.on('error', () => undefined);

  let dropping: Promise<void> | undefined;
  return {
    url,
    pool,
    drop: () =>
      (dropping ??= (async () => {
        await pool.end().catch(() => undefined);
        await withAdminClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
      })()),
  };
}
