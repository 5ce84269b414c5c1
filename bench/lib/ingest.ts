import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { SourceSpec } from '../../src/sources/types';
import { stagingDDL, stagingTable } from '../../src/ingest/staging';
import { psql, psqlQuote, settle } from './db';
import { check, lastJsonLine, loadAvg1, runProcess } from './proc';
import type { IngestChildResult } from './ingest-child';
import { compiledChild } from './build';
import { zodPathVariant } from './variant';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const PANDAS_PYTHON = '/usr/bin/python3';

export type IngestMethod = 'copy' | 'copy-deferred' | 'project' | 'project-zod' | 'pandas';

export interface IngestSample {
  method: IngestMethod;
  repeat: number;
  /** The time the comparison uses: every method as a whole process, spawn to exit, timed by the bench. */
  ms: number;
  /** The same (kept for older result files, where the project's ms was its in-process time). */
  processMs: number;
  /** The project's ingest timed inside its process (module loading excluded); for reference only. */
  inProcessMs?: number;
  rows: number;
  peakRssKiB?: number;
  cpuMs?: number;
  loadAvg: number;
  detail?: unknown;
}

export async function prepareStaging(pool: pg.Pool, spec: SourceSpec): Promise<void> {
  await pool.query(stagingDDL(spec));
}

async function truncate(pool: pg.Pool, spec: SourceSpec): Promise<void> {
  await pool.query(`TRUNCATE ${stagingTable(spec)}`);
  await settle(pool);
}

async function countRows(pool: pg.Pool, spec: SourceSpec): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${stagingTable(spec)}`);
  return Number(rows[0]!.n);
}

/** psql \copy of the file into the staging table (CSV, header): the ceiling. */
export async function copyWithPsql(url: string, spec: SourceSpec, file: string): Promise<{ ms: number; rows: number }> {
  const cols = Object.keys(spec.columns).join(', ');
  const cmd = `\\copy staging.${spec.name} (${cols}) FROM ${psqlQuote(path.resolve(file))} WITH (FORMAT csv, HEADER true)`;
  const r = check(await runProcess('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', cmd]), 'psql \\copy');
  const m = /COPY (\d+)/.exec(r.stdout);
  return { ms: r.wallMs, rows: m ? Number(m[1]) : NaN };
}

const DEFERRED_TABLE = 'public.bench_copy_deferred_pk';

/**
 * psql \copy into a table of the same columns without any index, then ADD PRIMARY KEY, in one psql process:
 * the ceiling for a loader that builds the key after the load (as a landing-table design does).
 */
export async function copyDeferredPk(pool: pg.Pool, url: string, spec: SourceSpec, file: string): Promise<{ ms: number; rows: number }> {
  await pool.query(`DROP TABLE IF EXISTS ${DEFERRED_TABLE}`);
  await pool.query(`CREATE TABLE ${DEFERRED_TABLE} (LIKE ${stagingTable(spec)} INCLUDING DEFAULTS)`);
  await settle(pool);
  const cols = Object.keys(spec.columns).join(', ');
  const pk = spec.primaryKey.join(', ');
  const r = check(
    await runProcess('psql', [
      '-X', '-v', 'ON_ERROR_STOP=1', '-d', url,
      '-c', `\\copy ${DEFERRED_TABLE} (${cols}) FROM ${psqlQuote(path.resolve(file))} WITH (FORMAT csv, HEADER true)`,
      '-c', `ALTER TABLE ${DEFERRED_TABLE} ADD PRIMARY KEY (${pk})`,
    ]),
    'psql \\copy + ADD PRIMARY KEY',
  );
  const m = /COPY (\d+)/.exec(r.stdout);
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${DEFERRED_TABLE}`);
  await pool.query(`DROP TABLE ${DEFERRED_TABLE}`);
  return { ms: r.wallMs, rows: m ? Number(m[1]) : Number(rows[0]!.n) };
}

export interface ChildOptions {
  url: string;
  spec: SourceSpec;
  dir: string;
  chunkBytes?: number;
  concurrency?: number;
  cpuProfileDir?: string;
  env?: NodeJS.ProcessEnv;
  /** More arguments for the child (bench/lib/source-db.ts: --source-db URL --db-chunk-rows N). */
  extraArgs?: string[];
  /** node flags for the child (bench/lib/source-db.ts: the deployed worker's, WORKER_NODE_FLAGS). */
  nodeFlags?: string[];
}

/** The project's ingest in a child process of compiled JavaScript (dist/bench/ingest-child.js). */
export async function projectIngest(o: ChildOptions): Promise<{ result: IngestChildResult; processMs: number }> {
  const nodeArgs: string[] = [...(o.nodeFlags ?? [])];
  if (o.cpuProfileDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  const args = [...nodeArgs, await compiledChild('ingest-child'), '--db', o.url, '--source', o.spec.name, '--dir', o.dir];
  if (o.chunkBytes) args.push('--chunk-bytes', String(o.chunkBytes));
  if (o.concurrency) args.push('--concurrency', String(o.concurrency));
  if (o.extraArgs) args.push(...o.extraArgs);
  const r = check(await runProcess(process.execPath, args, { cwd: REPO_DIR, env: { ...process.env, ...o.env } }), 'project ingest');
  return { result: lastJsonLine<IngestChildResult>(r, 'project ingest'), processMs: r.wallMs };
}

export interface PandasResult {
  rows: number;
  importSeconds: number;
  readSeconds: number;
  writeSeconds: number;
  loadSeconds: number;
  peakRssKiB: number;
  pandas: string;
  sqlalchemy: string;
}

export async function pandasAvailable(): Promise<{ ok: boolean; versions?: string; why?: string }> {
  const r = await runProcess(PANDAS_PYTHON, ['-c', 'import pandas, sqlalchemy, psycopg2; print(pandas.__version__, sqlalchemy.__version__, psycopg2.__version__)']).catch(
    (err: Error) => ({ code: 1, stdout: '', stderr: err.message }),
  );
  return r.code === 0 ? { ok: true, versions: r.stdout.trim() } : { ok: false, why: r.stderr.trim().split('\n').pop() };
}

/** The original method: pandas read_csv + to_sql(method='multi', chunksize=1000). */
export async function pandasToSql(url: string, spec: SourceSpec, file: string): Promise<{ result: PandasResult; processMs: number }> {
  const r = check(
    await runProcess(PANDAS_PYTHON, [path.join(BENCH_DIR, 'pandas_to_sql.py'), '--db', url, '--file', path.resolve(file), '--schema', 'staging', '--table', spec.name]),
    'pandas to_sql',
  );
  return { result: lastJsonLine<PandasResult>(r, 'pandas to_sql'), processMs: r.wallMs };
}

export interface IngestResults {
  file: string;
  fileBytes: number;
  engine: string;
  /** The Zod-path variant: same rows, one column quoted so the engine's fast path declines every row. */
  zodVariant?: { file: string; fileBytes: number; quotedColumn?: string; /** results before the quoted variant */ paddedColumn?: string };
  pandas: { available: boolean; versions?: string; why?: string; repeats: number };
  samples: IngestSample[];
}

/**
 * copy, project, pandas, copy, project, ...: each into a freshly truncated staging table (same shape, with its
 * primary key), after a CHECKPOINT, so each trial starts from the same state.
 */
export async function benchIngest(o: {
  pool: pg.Pool;
  url: string;
  spec: SourceSpec;
  dir: string;
  repeats: number;
  pandasRepeats: number;
  skipPandas: boolean;
  expectedRows: number;
  /** Directory of the Zod-path variant of the file (see variant.ts); absent = not measured. */
  zodVariantDir?: string;
  log: (msg: string) => void;
}): Promise<IngestResults> {
  const { pool, spec, log } = o;
  const file = path.join(o.dir, spec.file);
  const fileBytes = (await stat(file)).size;
  await prepareStaging(pool, spec);
  const pandas = o.skipPandas ? { ok: false, why: 'skipped (--skip-pandas)' } : await pandasAvailable();
  const samples: IngestSample[] = [];
  let engineName = '?';
  let zodVariant: IngestResults['zodVariant'];
  if (o.zodVariantDir) {
    const quotedColumn = 'qty';
    log(`ingest: preparing the Zod-path variant of ${spec.file} (column ${quotedColumn} quoted) in ${o.zodVariantDir}`);
    const vfile = await zodPathVariant(file, o.zodVariantDir, quotedColumn);
    zodVariant = { file: vfile, fileBytes: (await stat(vfile)).size, quotedColumn };
  }
  const verify = async (method: IngestMethod) => {
    const n = await countRows(pool, spec);
    if (n !== o.expectedRows) throw new Error(`${method}: ${n} rows in staging, expected ${o.expectedRows}`);
  };
  for (let r = 0; r < o.repeats; r++) {
    const methods: IngestMethod[] = ['copy', 'copy-deferred', 'project'];
    if (zodVariant) methods.push('project-zod');
    if (pandas.ok && r < o.pandasRepeats) methods.push('pandas');
    for (const method of methods) {
      await truncate(pool, spec);
      const loadAvg = loadAvg1();
      if (method === 'copy') {
        const c = await copyWithPsql(o.url, spec, file);
        samples.push({ method, repeat: r, ms: c.ms, processMs: c.ms, rows: c.rows, loadAvg });
      } else if (method === 'copy-deferred') {
        const c = await copyDeferredPk(pool, o.url, spec, file);
        samples.push({ method, repeat: r, ms: c.ms, processMs: c.ms, rows: c.rows, loadAvg });
      } else if (method === 'project' || method === 'project-zod') {
        const dir = method === 'project' ? o.dir : path.dirname(zodVariant!.file);
        const { result, processMs } = await projectIngest({ url: o.url, spec, dir });
        engineName = result.engine;
        samples.push({
          method,
          repeat: r,
          ms: processMs,
          processMs,
          inProcessMs: result.ingestMs,
          rows: result.rowsLoaded,
          peakRssKiB: result.peakRssKiB,
          cpuMs: result.cpuUserMs + result.cpuSystemMs,
          loadAvg,
          detail: result,
        });
      } else {
        const { result, processMs } = await pandasToSql(o.url, spec, file);
        samples.push({ method, repeat: r, ms: processMs, processMs, rows: result.rows, peakRssKiB: result.peakRssKiB, loadAvg, detail: result });
      }
      if (method === 'copy-deferred') {
        if (samples.at(-1)!.rows !== o.expectedRows) throw new Error(`${method}: ${samples.at(-1)!.rows} rows, expected ${o.expectedRows}`);
      } else {
        await verify(method);
      }
      const s = samples.at(-1)!;
      log(
        `ingest ${r + 1}/${o.repeats} ${method.padEnd(7)} ${(s.ms / 1000).toFixed(2)} s` +
          ` (${Math.round(s.rows / (s.ms / 1000)).toLocaleString('en-US')} rows/s${s.peakRssKiB ? `, peak RSS ${Math.round(s.peakRssKiB / 1024)} MiB` : ''}, load ${loadAvg})`,
      );
    }
  }
  return {
    file,
    fileBytes,
    engine: engineName,
    zodVariant,
    pandas: { available: pandas.ok, versions: 'versions' in pandas ? pandas.versions : undefined, why: pandas.why, repeats: pandas.ok ? Math.min(o.pandasRepeats, o.repeats) : 0 },
    samples,
  };
}

/** A psql session run for its side effects (used by the transform preparation). */
export async function psqlCopyCsv(url: string, spec: SourceSpec, file: string): Promise<void> {
  const cols = Object.keys(spec.columns).join(', ');
  const r = await psql(url, ['-c', `\\copy staging.${spec.name} (${cols}) FROM ${psqlQuote(path.resolve(file))} WITH (FORMAT csv, HEADER true)`]);
  check(r, `psql \\copy ${spec.name}`);
}
