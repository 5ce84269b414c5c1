import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { runTimedScript } from './db';

// Issue 8's plain-SQL yardstick: the Superstore transform written by hand for one psql session
// (bench/superstore-handwritten.sql: CREATE TABLE AS / INSERT ... SELECT into schema hb_superstore, from the same
// superstore_staging tables the project reads). It builds the same eleven tables, column for column, as a full
// project run; after each run the bench fingerprints the tables on both sides and compares them.

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const HANDWRITTEN_SCRIPT = path.join(BENCH_DIR, 'superstore-handwritten.sql');
export const HANDWRITTEN_SCHEMA = 'hb_superstore';

/** The tables compared: the project's schema-qualified name and the hand-written one. */
export const COMPARED_TABLES: { project: string; handwritten: string }[] = [
  ...['dim_customer', 'dim_product', 'dim_geography', 'dim_ship_mode', 'dim_date', 'fct_sales'].map((t) => ({ project: `superstore_dw.${t}`, handwritten: `${HANDWRITTEN_SCHEMA}.${t}` })),
  ...['sales_kpi_yearly', 'sales_kpi_monthly', 'sales_kpi_by_dimension', 'rfm_customers', 'rfm_segments'].map((t) => ({ project: `superstore_mart.${t}`, handwritten: `${HANDWRITTEN_SCHEMA}.${t}` })),
];

/** Measures summed in a table's fingerprint, where the table has them. */
const SUMMED = ['sales', 'profit', 'quantity', 'monetary', 'customers', 'orders'];

export interface TableFingerprint {
  rows: number;
  /** Sum of every listed measure column the table has, as text (exact numeric). */
  sums: Record<string, string>;
  /** Order-free hash of every row: sum of hashtextextended(row::text, 0) over the rows, as text. */
  rowHash: string;
}

/** Keyed by the table's name without schema (dim_customer, ..., rfm_segments). */
export type Fingerprint = Record<string, TableFingerprint>;

export interface HandwrittenRun {
  ms: number;
  /** psql's \timing summed per `\echo step:<name>` group. */
  steps: Record<string, number>;
}

/** Drops the hand-written schema: every run starts without it. */
export async function dropHandwritten(pool: pg.Pool): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${HANDWRITTEN_SCHEMA} CASCADE`);
}

/** Runs the script as one psql process (-X -q -v ON_ERROR_STOP=1 -f), timed spawn to exit by this process. */
export async function runHandwritten(pool: pg.Pool, url: string): Promise<HandwrittenRun> {
  await dropHandwritten(pool);
  return runTimedScript(pool, url, HANDWRITTEN_SCRIPT);
}

/** Row count, measure sums and an order-free hash of every row of each compared table on one side. */
export async function fingerprint(pool: pg.Pool, side: 'project' | 'handwritten'): Promise<Fingerprint> {
  const out: Fingerprint = {};
  for (const t of COMPARED_TABLES) {
    const table = t[side];
    const [schema, name] = table.split('.') as [string, string];
    const { rows: cols } = await pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [schema, name],
    );
    const summed = SUMMED.filter((c) => cols.some((x) => x.column_name === c));
    const { rows } = await pool.query<Record<string, string>>(
      `SELECT count(*)::text AS rows, coalesce(sum(hashtextextended(t::text, 0)), 0)::text AS row_hash
              ${summed.map((c) => `, sum(t.${c})::text AS "sum_${c}"`).join('')}
         FROM ${table} AS t`,
    );
    const r = rows[0]!;
    out[name] = { rows: Number(r.rows), sums: Object.fromEntries(summed.map((c) => [c, r[`sum_${c}`] ?? 'null'])), rowHash: r.row_hash! };
  }
  return out;
}

/** What differs between two fingerprints, one line per difference; empty when they agree. */
export function fingerprintDiff(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[name];
    const y = b[name];
    if (!x || !y) {
      out.push(`${name}: missing on one side`);
      continue;
    }
    if (x.rows !== y.rows) out.push(`${name}: ${x.rows} rows vs ${y.rows}`);
    for (const c of new Set([...Object.keys(x.sums), ...Object.keys(y.sums)])) {
      if (x.sums[c] !== y.sums[c]) out.push(`${name}: sum(${c}) ${x.sums[c]} vs ${y.sums[c]}`);
    }
    if (x.rowHash !== y.rowHash) out.push(`${name}: row hash differs`);
  }
  return out;
}
