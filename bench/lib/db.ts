import pg from 'pg';
import { runProcess, check } from './proc';
import type { ProcessRun } from './proc';

export function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

async function admin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** CREATE DATABASE bench_<timestamp>; dropped (WITH FORCE) by drop(). */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').replace(/\..*$/, '');
  const name = `bench_${stamp}_${process.pid}`;
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = withDatabase(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 10, application_name: 'gudang-bench' });
  pool.on('error', () => undefined);
  let dropping: Promise<void> | undefined;
  return {
    name,
    url,
    pool,
    drop: () =>
      (dropping ??= (async () => {
        await pool.end().catch(() => undefined);
        await admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
      })()),
  };
}

/** psql without ~/.psqlrc, quiet, stopping at the first error. */
export function psql(url: string, args: string[]): Promise<ProcessRun> {
  return runProcess('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args]);
}

export async function psqlChecked(url: string, args: string[], what: string): Promise<ProcessRun> {
  return check(await psql(url, args), what);
}

/** Quote a file path for psql's \copy (a single-quoted literal). */
export function psqlQuote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Flushes dirty buffers so the previous trial's writes are not paid by the next one. */
export async function settle(pool: pg.Pool): Promise<void> {
  await pool.query('CHECKPOINT');
}

/**
 * Runs a hand-written baseline script in one psql process (-f), timed spawn to exit, after a checkpoint; psql's
 * \timing lines are summed per `\echo step:<name>` group.
 */
export async function runTimedScript(pool: pg.Pool, url: string, script: string): Promise<{ ms: number; steps: Record<string, number> }> {
  await settle(pool);
  const r = await psql(url, ['-f', script]);
  if (r.code !== 0) throw new Error(`psql -f ${script} failed: ${r.stderr.slice(-3000)}`);
  const steps: Record<string, number> = {};
  let current = 'setup';
  for (const line of r.stdout.split('\n')) {
    const step = /^step:(.+)$/.exec(line);
    if (step) current = step[1]!;
    const t = /^Time: ([\d.]+) ms/.exec(line);
    if (t) steps[current] = (steps[current] ?? 0) + Number(t[1]);
  }
  return { ms: r.wallMs, steps };
}
