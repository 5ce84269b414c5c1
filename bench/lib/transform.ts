import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { loadConfig } from '../../src/config';
import type { DatasetSpec } from '../../src/datasets';
import { runLayerGates } from '../../src/warehouse/gates';
import { SQL_DIR } from '../../src/warehouse/migrate';
import { runModel } from '../../src/warehouse/models';
import { publishRun } from '../../src/warehouse/publish';
import { psql, settle } from './db';
import { loadAvg1 } from './proc';
import { recordingPool, toPsqlScript } from './recording';
import type { RecordedQuery } from './recording';


export interface TransformRun {
  totalMs: number;
  models: { model: string; ms: number; rows: number }[];
  gates: { layer: string; ms: number; checks: number }[];
  /** The publish step: every built table swapped into place in one transaction. */
  publishMs?: number;
}

let transformRuns = 0;

/** What a worker started in this environment would use (GUDANG_GATE_CONNECTIONS, default 2). */
export const GATE_CONNECTIONS_DEPLOYED = loadConfig().GUDANG_GATE_CONNECTIONS;

/**
 * Every model of every layer in order, then the layer's gate, then the publish step: the pipeline's transform
 * (write, audit, publish), sequentially, in-process. A gate runs its checks on `gateConnections` connections at once
 * (the worker's GUDANG_GATE_CONNECTIONS); the recorded run uses one, so its statements replay in one psql session.
 */
export async function runTransform(pool: pg.Pool, dataset: DatasetSpec, period?: string, gateConnections = GATE_CONNECTIONS_DEPLOYED): Promise<TransformRun> {
  const runTag = `bench${(transformRuns++).toString(36)}`;
  const params = { ...(period ? { period } : {}), runTag, connections: gateConnections };
  const t0 = performance.now();
  const models: TransformRun['models'] = [];
  const gates: TransformRun['gates'] = [];
  for (const layer of dataset.layers) {
    for (const model of layer.models) {
      const m0 = performance.now();
      const r = await runModel(pool, dataset, model, params);
      models.push({ model: model.name, ms: performance.now() - m0, rows: r.rows });
    }
    const g0 = performance.now();
    const g = await runLayerGates(pool, dataset, layer, params);
    gates.push({ layer: layer.name, ms: performance.now() - g0, checks: g.checks.length });
  }
  const p0 = performance.now();
  await publishRun(pool, dataset, runTag);
  return { totalMs: performance.now() - t0, models, gates, publishMs: performance.now() - p0 };
}

/** Drops every table the dataset's models build, so the next transform starts from an empty warehouse. */
export async function resetWarehouse(pool: pg.Pool, dataset: DatasetSpec): Promise<void> {
  const tables = dataset.layers.flatMap((l) => l.models.map((m) => m.table));
  await pool.query(`DROP TABLE IF EXISTS ${tables.join(', ')} CASCADE`);
  await settle(pool);
}

/** VACUUM ANALYZE of the model tables (autovacuum may be off): repeated rebuilds start from the same shape. */
export async function vacuumWarehouse(pool: pg.Pool, dataset: DatasetSpec): Promise<void> {
  for (const m of dataset.layers.flatMap((l) => l.models)) await pool.query(`VACUUM ANALYZE ${m.table}`);
  await settle(pool);
}

/** Whether the dataset's SQL reads the period parameter (incremental runs are possible). */
export async function periodSupported(dataset: DatasetSpec): Promise<boolean> {
  const files = dataset.layers.flatMap((l) => l.models.map((m) => m.file));
  for (const f of files) if ((await readFile(path.join(SQL_DIR, f), 'utf8')).includes('gudang.period')) return true;
  return false;
}

/** Records the statements of one transform run (which it performs) and writes them as a psql script. */
export async function recordTransform(pool: pg.Pool, dataset: DatasetSpec, scriptFile: string): Promise<{ run: TransformRun; statements: number }> {
  const log: RecordedQuery[] = [];
  const run = await runTransform(recordingPool(pool, log), dataset, undefined, 1);
  await writeFile(scriptFile, toPsqlScript(log));
  return { run, statements: log.length };
}

export async function runPsqlScript(url: string, scriptFile: string): Promise<number> {
  const r = await psql(url, ['-o', '/dev/null', '-f', scriptFile]);
  if (r.code !== 0) throw new Error(`psql -f ${scriptFile} failed: ${r.stderr.slice(-3000)}`);
  return r.wallMs;
}

/** Rows written (inserted or updated) since `xid` per table: how much of each table a run touched. */
export async function rowsWrittenSince(pool: pg.Pool, tables: string[], xid: number): Promise<Record<string, { written: number; total: number }>> {
  const out: Record<string, { written: number; total: number }> = {};
  for (const t of tables) {
    const { rows } = await pool.query<{ written: string; total: string }>(
      `SELECT count(*) FILTER (WHERE xmin::text::bigint >= $1)::text AS written, count(*)::text AS total FROM ${t}`,
      [xid],
    );
    out[t] = { written: Number(rows[0]!.written), total: Number(rows[0]!.total) };
  }
  return out;
}

export async function currentXid(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ x: string }>(`SELECT (txid_current() % 4294967296)::text AS x`);
  return Number(rows[0]!.x);
}

async function factRowsIn(pool: pg.Pool, period: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM warehouse.fct_transactions
      WHERE order_date >= to_date($1 || '-01', 'YYYY-MM-DD') AND order_date < to_date($1 || '-01', 'YYYY-MM-DD') + interval '1 month'`,
    [period],
  );
  return Number(rows[0]!.n);
}

/** The latest month with orders in staging, YYYY-MM. */
export async function lastMonth(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ p: string }>(`SELECT to_char(max(order_date), 'YYYY-MM') AS p FROM staging.orders`);
  return rows[0]!.p;
}

export interface TransformSample {
  kind: 'project' | 'psql';
  ms: number;
  loadAvg: number;
  detail?: TransformRun;
}

export interface IncrementalSample {
  kind: 'full' | 'period';
  ms: number;
  loadAvg: number;
  period?: string;
  detail: TransformRun;
  touched: Record<string, { written: number; total: number }>;
  /** Fact rows dated in the period (what a period run should write, and all it should write). */
  periodFactRows?: number;
}

export interface TransformResults {
  /**
   * Connections each gate ran its checks on in the project's runs (the psql replay, recorded with one, runs them
   * one after another in its one session).
   */
  gateConnections?: number;
  statementsRecorded: number;
  warmupMs: number;
  samples: TransformSample[];
  incremental: { supported: boolean; note?: string; period?: string; samples: IncrementalSample[] };
}

export async function benchTransform(o: {
  pool: pg.Pool;
  url: string;
  dataset: DatasetSpec;
  repeats: number;
  workDir: string;
  log: (msg: string) => void;
}): Promise<TransformResults> {
  const { pool, url, dataset, repeats, log } = o;
  const script = path.join(o.workDir, 'transform.psql');
  await resetWarehouse(pool, dataset);
  log('transform: recording the project run (warm-up, not counted)');
  const rec = await recordTransform(pool, dataset, script);
  log(`transform: warm-up ${(rec.run.totalMs / 1000).toFixed(2)} s, ${rec.statements} statements recorded to ${script}`);

  const samples: TransformSample[] = [];
  for (let r = 0; r < repeats; r++) {
    // alternate which goes first, so a drift in machine load does not favour one side
    const order: ('project' | 'psql')[] = r % 2 === 0 ? ['psql', 'project'] : ['project', 'psql'];
    for (const kind of order) {
      await resetWarehouse(pool, dataset);
      const loadAvg = loadAvg1();
      if (kind === 'psql') {
        const ms = await runPsqlScript(url, script);
        samples.push({ kind, ms, loadAvg });
      } else {
        const detail = await runTransform(pool, dataset);
        samples.push({ kind, ms: detail.totalMs, loadAvg, detail });
      }
      log(`transform ${r + 1}/${repeats} ${kind.padEnd(7)} ${(samples.at(-1)!.ms / 1000).toFixed(2)} s (load ${loadAvg})`);
    }
  }

  const incremental: TransformResults['incremental'] = { supported: await periodSupported(dataset), samples: [] };
  if (!incremental.supported) {
    incremental.note = 'the models do not read gudang.period yet: no incremental run to time';
    return { gateConnections: GATE_CONNECTIONS_DEPLOYED, statementsRecorded: rec.statements, warmupMs: rec.run.totalMs, samples, incremental };
  }
  const period = await lastMonth(pool);
  incremental.period = period;
  const tables = dataset.layers.flatMap((l) => l.models.map((m) => m.table));
  // start from a built warehouse: a full refresh then a period run, each over the same built state
  await resetWarehouse(pool, dataset);
  await runTransform(pool, dataset);
  for (let r = 0; r < repeats; r++) {
    const order: ('full' | 'period')[] = r % 2 === 0 ? ['full', 'period'] : ['period', 'full'];
    for (const kind of order) {
      await vacuumWarehouse(pool, dataset);
      const xid = await currentXid(pool);
      const loadAvg = loadAvg1();
      const detail = await runTransform(pool, dataset, kind === 'period' ? period : undefined);
      const touched = await rowsWrittenSince(pool, tables, xid);
      const periodFactRows = await factRowsIn(pool, period);
      incremental.samples.push({ kind, ms: detail.totalMs, loadAvg, period: kind === 'period' ? period : undefined, detail, touched, periodFactRows });
      log(`incremental ${r + 1}/${repeats} ${kind.padEnd(6)} ${(detail.totalMs / 1000).toFixed(2)} s, fact rows written ${touched['warehouse.fct_transactions']?.written ?? '?'}`);
    }
  }
  return { gateConnections: GATE_CONNECTIONS_DEPLOYED, statementsRecorded: rec.statements, warmupMs: rec.run.totalMs, samples, incremental };
}
