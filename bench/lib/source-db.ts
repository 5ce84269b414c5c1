import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as mariadb from 'mariadb';
import pg from 'pg';
import { seedShopDatabase } from '../../dataset/to-db';
import { stagingTable } from '../../src/ingest/staging';
import type { SourceSpec } from '../../src/sources/types';
import { psqlQuote, settle, withDatabase } from './db';
import { prepareStaging, projectIngest } from './ingest';
import { WORKER_NODE_FLAGS } from './workers';
import { check, loadAvg1, runProcess } from './proc';
import type { ProcessRun } from './proc';
import { round, spreadPct, summary } from './stats';
import type { Summary } from './stats';

// Database sources, batch (issue 13): order lines read out of the shop's PostgreSQL and MariaDB by gudang (the
// pipeline's own ingest activities with --source-db: primary-key-range chunks, COPY TO STDOUT / a streaming query,
// the CSV fast path's validation, COPY into the landing table, publish into staging) against the database's own
// client dumping the same rows: `psql \copy (SELECT ...) TO file` and `mariadb --batch --quick -e 'SELECT ...' > file`.
// A dump only reads; gudang reads, validates and writes into PostgreSQL. So each database also gets a second
// baseline that moves the rows into the same keyed staging table with no validation at all: the dump piped into
// `psql \copy ... FROM STDIN`. Every method is timed the same way: as a whole process (psql, mariadb, a bash pipe,
// the compiled ingest child), spawn to exit, by the bench, alternating within each repeat.

const MARIADB_URL = process.env.BENCH_MARIADB_URL || 'mariadb://root@127.0.0.1:3306/mysql';

export type SourceDbMethod = 'gudang-pg' | 'psql-dump' | 'psql-pipe' | 'gudang-mariadb' | 'mariadb-dump' | 'mariadb-pipe';
export const SOURCE_DB_METHODS: readonly SourceDbMethod[] = ['psql-dump', 'gudang-pg', 'psql-pipe', 'mariadb-dump', 'gudang-mariadb', 'mariadb-pipe'];

export interface SourceDbSample {
  method: SourceDbMethod;
  repeat: number;
  /** Spawn to exit of the whole process, timed by the bench. */
  ms: number;
  rows: number;
  /** gudang only: VmHWM of the ingest child (the ingest activities and their pool, no Temporal runtime). */
  peakRssKiB?: number;
  /** gudang only: the ingest timed inside the child (reference). */
  inProcessMs?: number;
  chunks?: number;
  loadAvg: number;
}

export interface SourceDbResults {
  rows: number;
  repeats: number;
  dbChunkRows: number;
  concurrency: number;
  seed: { pgMs: number; mariadbMs: number };
  samples: SourceDbSample[];
}

const COLS = ['order_detail_id', 'order_id', 'product_id', 'qty', 'item_price', 'unit_sales'];
const SELECT = `SELECT ${COLS.join(', ')} FROM order_details ORDER BY order_detail_id`;

/** A process whose stdout goes to a file (the mariadb client's dump), timed spawn to exit. */
function runToFile(command: string, args: string[], file: string): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const fd = openSync(file, 'w');
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    child.once('error', (e) => {
      closeSync(fd);
      reject(e);
    });
    child.once('close', (code, signal) => {
      closeSync(fd);
      resolve({ code, signal, stdout: '', stderr, wallMs: performance.now() - t0, pid: child.pid });
    });
  });
}

async function lineCount(file: string): Promise<number> {
  const r = check(await runProcess('wc', ['-l', file]), 'wc -l');
  return Number(r.stdout.trim().split(/\s+/)[0]);
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function mariadbArgs(u: URL, database: string): string[] {
  const args = ['-h', u.hostname, '-P', u.port || '3306', '-u', decodeURIComponent(u.username) || 'root'];
  if (u.password) args.push(`-p${decodeURIComponent(u.password)}`);
  return [...args, '--batch', '--quick', '--skip-column-names', database];
}

export async function benchSourceDb(o: {
  pool: pg.Pool;
  /** The warehouse database the loads go into (the bench database). */
  url: string;
  /** Server the PostgreSQL shop database is created on. */
  serverUrl: string;
  spec: SourceSpec;
  dir: string;
  workDir: string;
  repeats: number;
  expectedRows: number;
  dbChunkRows: number;
  concurrency: number;
  log: (msg: string) => void;
}): Promise<SourceDbResults> {
  const { log } = o;
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').replace(/\..*$/, '');
  const shopName = `bench_shop_${stamp}_${process.pid}`;
  const pgShopUrl = withDatabase(o.serverUrl, shopName);
  const mu = new URL(MARIADB_URL);
  const mariaAdmin = await mariadb.createConnection({ host: mu.hostname, port: Number(mu.port) || 3306, user: decodeURIComponent(mu.username) || 'root', password: decodeURIComponent(mu.password) });
  const mariaShopUrl = Object.assign(new URL(MARIADB_URL), { pathname: `/${shopName}` }).toString();
  const admin = new pg.Client({ connectionString: o.serverUrl });
  await admin.connect();
  const results: SourceDbResults = { rows: o.expectedRows, repeats: o.repeats, dbChunkRows: o.dbChunkRows, concurrency: o.concurrency, seed: { pgMs: 0, mariadbMs: 0 }, samples: [] };
  const dump = path.join(o.workDir, 'source-db-dump.csv');
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(shopName)}`);
    await mariaAdmin.query(`CREATE DATABASE \`${shopName}\``);
    log(`source-db: seeding ${shopName} in PostgreSQL and MariaDB with ${o.expectedRows} order lines (untimed)`);
    const seededPg = await seedShopDatabase(pgShopUrl, o.dir);
    const seededMaria = await seedShopDatabase(mariaShopUrl, o.dir);
    results.seed = { pgMs: seededPg.durationMs, mariadbMs: seededMaria.durationMs };
    for (const s of [seededPg, seededMaria]) {
      if (s.orderDetails !== o.expectedRows) throw new Error(`source-db: ${s.locator} has ${s.orderDetails} order lines, expected ${o.expectedRows}`);
    }
    log(`source-db: seeded in ${(seededPg.durationMs / 1000).toFixed(1)} s (PostgreSQL COPY), ${(seededMaria.durationMs / 1000).toFixed(1)} s (MariaDB multi-row INSERTs)`);
    await prepareStaging(o.pool, o.spec);
    const target = stagingTable(o.spec);
    const copyIn = `\\copy ${target.replace(/"/g, '')} (${COLS.join(', ')}) FROM STDIN`;

    const trial = async (method: SourceDbMethod, r: number): Promise<SourceDbSample> => {
      await o.pool.query(`TRUNCATE ${target}`);
      await settle(o.pool);
      const loadAvg = loadAvg1();
      switch (method) {
        case 'psql-dump': {
          const run = check(await runProcess('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pgShopUrl, '-c', `\\copy (${SELECT}) TO ${psqlQuote(dump)} WITH (FORMAT csv)`]), 'psql \\copy TO');
          return { method, repeat: r, ms: run.wallMs, rows: await lineCount(dump), loadAvg };
        }
        case 'mariadb-dump': {
          const run = check(await runToFile('mariadb', [...mariadbArgs(new URL(mariaShopUrl), shopName), '-e', SELECT], dump), 'mariadb dump');
          return { method, repeat: r, ms: run.wallMs, rows: await lineCount(dump), loadAvg };
        }
        case 'psql-pipe':
        case 'mariadb-pipe': {
          const out =
            method === 'psql-pipe'
              ? `psql -X -q -v ON_ERROR_STOP=1 -d ${shq(pgShopUrl)} -c ${shq(`\\copy (${SELECT}) TO STDOUT`)}`
              : `mariadb ${mariadbArgs(new URL(mariaShopUrl), shopName).map(shq).join(' ')} -e ${shq(SELECT)}`;
          const cmd = `set -o pipefail; ${out} | psql -X -q -v ON_ERROR_STOP=1 -d ${shq(o.url)} -c ${shq(copyIn)}`;
          const run = check(await runProcess('bash', ['-c', cmd]), `${method}`);
          const { rows } = await o.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${target}`);
          return { method, repeat: r, ms: run.wallMs, rows: Number(rows[0]!.n), loadAvg };
        }
        case 'gudang-pg':
        case 'gudang-mariadb': {
          const sourceDb = method === 'gudang-pg' ? pgShopUrl : mariaShopUrl;
          const { result, processMs } = await projectIngest({
            url: o.url,
            spec: o.spec,
            dir: o.dir,
            concurrency: o.concurrency,
            extraArgs: ['--source-db', sourceDb, '--db-chunk-rows', String(o.dbChunkRows)],
            // the node flags the deployed worker runs with: the peak RSS target is about that process
            nodeFlags: WORKER_NODE_FLAGS,
          });
          if (result.rowsRejected !== 0) throw new Error(`${method}: ${result.rowsRejected} rows rejected`);
          return { method, repeat: r, ms: processMs, rows: result.rowsLoaded, peakRssKiB: result.peakRssKiB, inProcessMs: result.ingestMs, chunks: result.timings.chunks, loadAvg };
        }
      }
    };

    for (let r = 0; r < o.repeats; r++) {
      for (const method of SOURCE_DB_METHODS) {
        const sample = await trial(method, r);
        if (sample.rows !== o.expectedRows) throw new Error(`source-db ${method}: ${sample.rows} rows, expected ${o.expectedRows}`);
        results.samples.push(sample);
        const rss = sample.peakRssKiB ? `, peak RSS ${Math.round(sample.peakRssKiB / 1024)} MiB, ${sample.chunks} chunks` : '';
        log(`source-db ${r + 1}/${o.repeats} ${method}: ${(sample.ms / 1000).toFixed(2)} s${rss} (load ${sample.loadAvg})`);
      }
    }
  } finally {
    await rm(dump, { force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(shopName)} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await mariaAdmin.query(`DROP DATABASE IF EXISTS \`${shopName}\``).catch(() => undefined);
    await mariaAdmin.end().catch(() => undefined);
  }
  return results;
}

const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');
const times = (r: number) => (Number.isFinite(r) ? `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×` : '–');

export function sourceDbSummaries(res: SourceDbResults): Record<SourceDbMethod, Summary & { rss?: Summary }> {
  const out = {} as Record<SourceDbMethod, Summary & { rss?: Summary }>;
  for (const m of SOURCE_DB_METHODS) {
    const xs = res.samples.filter((s) => s.method === m);
    const rss = xs.map((s) => s.peakRssKiB ?? NaN).filter(Number.isFinite);
    out[m] = { ...summary(xs.map((s) => s.ms)), rss: rss.length ? summary(rss) : undefined };
  }
  return out;
}

/** Ratio and RSS figures: gudang against each database's own client, in the same run. */
export function sourceDbTargets(res: SourceDbResults): { id: string; measured: string; ratio: number; met: boolean | null }[] {
  const sm = sourceDbSummaries(res);
  const out: { id: string; measured: string; ratio: number; met: boolean | null }[] = [];
  for (const [kind, g, dump, pipe] of [
    ['PostgreSQL', 'gudang-pg', 'psql-dump', 'psql-pipe'],
    ['MariaDB', 'gudang-mariadb', 'mariadb-dump', 'mariadb-pipe'],
  ] as const) {
    out.push({ id: `${kind}: gudang / client dump`, measured: `${sec(sm[g].median)} s vs ${sec(sm[dump].median)} s`, ratio: round(sm[g].median / sm[dump].median), met: null });
    out.push({ id: `${kind}: gudang / client dump piped into psql \\copy`, measured: `${sec(sm[g].median)} s vs ${sec(sm[pipe].median)} s`, ratio: round(sm[g].median / sm[pipe].median), met: null });
    const peak = sm[g].rss?.max ?? NaN;
    out.push({ id: `${kind}: peak RSS of the ingest process < 256 MiB`, measured: `${Math.round(peak / 1024)} MiB (max of ${sm[g].rss?.n ?? 0})`, ratio: round(peak / 1024 / 256), met: Number.isFinite(peak) ? peak < 256 * 1024 : null });
  }
  return out;
}

export function renderSourceDb(res: SourceDbResults): string {
  const sm = sourceDbSummaries(res);
  const label: Record<SourceDbMethod, string> = {
    'psql-dump': '`psql \\copy (SELECT …) TO file` (PostgreSQL source)',
    'gudang-pg': 'gudang, `--source-db postgres://…` (read, validate, load, publish)',
    'psql-pipe': '`psql \\copy … TO STDOUT` piped into `psql \\copy staging … FROM STDIN`',
    'mariadb-dump': '`mariadb --batch --quick -e "SELECT …" > file` (MariaDB source)',
    'gudang-mariadb': 'gudang, `--source-db mariadb://…`',
    'mariadb-pipe': '`mariadb --batch --quick …` piped into `psql \\copy staging … FROM STDIN`',
  };
  const lines = [
    `### Database sources (issue 13): ${res.rows.toLocaleString('en-US')} order lines, ${res.repeats} repeats, every method a whole process`,
    '',
    `gudang: the ingest activities in one compiled child process, ${res.dbChunkRows.toLocaleString('en-US')} rows per chunk, ${res.concurrency} chunks at a time. Seeding (untimed): PostgreSQL ${sec(res.seed.pgMs)} s, MariaDB ${sec(res.seed.mariadbMs)} s.`,
    '',
    '| method | median s | min | max | spread | peak RSS | gudang / this |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const m of SOURCE_DB_METHODS) {
    const g = m.endsWith('pg') || m.startsWith('psql') ? sm['gudang-pg'] : sm['gudang-mariadb'];
    const r = sm[m];
    const rss = r.rss ? `${Math.round(r.rss.max / 1024)} MiB` : '–';
    lines.push(`| ${label[m]} | ${sec(r.median)} | ${sec(r.min)} | ${sec(r.max)} | ${round(spreadPct(r), 0)} % | ${rss} | ${m.startsWith('gudang') ? '–' : times(g.median / r.median)} |`);
  }
  lines.push('');
  for (const t of sourceDbTargets(res)) lines.push(`- ${t.id}: ${t.measured}${t.id.includes('RSS') ? (t.met === null ? ' (n/a)' : t.met ? ' **met**' : ' **not met**') : ` = **${times(t.ratio)}**`}`);
  return lines.join('\n');
}
