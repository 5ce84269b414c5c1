import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { DatasetSpec } from '../../src/datasets';
import { psqlChecked, psqlQuote, runTimedScript } from './db';

// Issue 14's yardstick for a whole run: what a competent engineer would write by hand in one psql session.
// `\copy` of every source file into a keyed table, then CREATE TABLE AS of every dimension, the fact and both marts
// with their primary keys, in schema hb. No validation, no quarantine, no history, no gates, no orchestration.
//
// psql reads CSV only: the five small sources that come as JSON, Excel or Parquet (under 300 rows together) are
// exported once, untimed, from the project's staging tables to CSV, and \copy'd from there. orders.csv and
// order_details.csv (the 1M/10M-line files) are \copy'd as delivered.

export interface BaselineSample {
  ms: number;
  /** psql's \timing per group of statements: copy <source>, dim_*, fct_transactions, dm_*. */
  steps: Record<string, number>;
  loadAvg: number;
}

async function csvHeader(file: string): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const line = buf.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/)[0]!;
    return line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
  } finally {
    await fh.close();
  }
}

/** The source files psql \copy's: CSV sources as delivered, the others exported from staging (untimed). */
async function sourceFiles(url: string, dataset: DatasetSpec, dir: string, workDir: string): Promise<{ name: string; file: string; columns: string[] }[]> {
  const out: { name: string; file: string; columns: string[] }[] = [];
  for (const s of dataset.sources) {
    if (s.format === 'csv') {
      const file = path.join(dir, s.file);
      out.push({ name: s.name, file, columns: await csvHeader(file) });
    } else {
      const file = path.join(workDir, `baseline-${s.name}.csv`);
      const columns = Object.keys(s.columns);
      await psqlChecked(url, ['-c', `\\copy (SELECT ${columns.join(', ')} FROM ${dataset.schemas.staging}.${s.name}) TO ${psqlQuote(file)} WITH (FORMAT csv, HEADER true)`], `export ${s.name}`);
      out.push({ name: s.name, file, columns });
    }
  }
  return out;
}

const TRANSFORM = `
\\echo step:dim_date
CREATE TABLE hb.dim_date AS
SELECT to_char(d, 'YYYYMMDD')::integer AS date_key, d::date AS full_date, extract(year FROM d)::integer AS year,
       extract(quarter FROM d)::integer AS quarter, 'Q' || extract(quarter FROM d)::integer AS quarter_name,
       extract(month FROM d)::integer AS month, to_char(d, 'FMMonth') AS month_name, to_char(d, 'Mon') AS month_short,
       to_char(d, 'YYYY-MM') AS year_month, date_trunc('month', d)::date AS month_start, extract(day FROM d)::integer AS day,
       extract(isodow FROM d)::integer AS day_of_week, to_char(d, 'FMDay') AS day_name, extract(doy FROM d)::integer AS day_of_year,
       extract(week FROM d)::integer AS iso_week, extract(isodow FROM d) IN (6, 7) AS is_weekend
FROM (SELECT DISTINCT extract(year FROM order_date)::integer AS y FROM hb.orders WHERE order_date IS NOT NULL) AS years
CROSS JOIN LATERAL generate_series(make_date(y, 1, 1), make_date(y, 12, 31), interval '1 day') AS d;
ALTER TABLE hb.dim_date ADD PRIMARY KEY (date_key);
\\echo step:dim_customers
CREATE TABLE hb.dim_customers AS
SELECT -1 AS customer_key, NULL::bigint AS customer_id, 'Unknown' AS full_name, 'Unknown' AS gender
UNION ALL
SELECT row_number() OVER (ORDER BY customer_id)::integer, customer_id, concat_ws(' ', first_name, nullif(last_name, '')),
       coalesce(nullif(gender, ''), 'Unknown')
FROM hb.customers;
ALTER TABLE hb.dim_customers ADD PRIMARY KEY (customer_key);
\\echo step:dim_products
CREATE TABLE hb.dim_products AS
SELECT -1 AS product_key, NULL::bigint AS product_id, 'Unknown' AS product_name, 'Unknown' AS size, NULL::numeric AS price,
       'Unknown' AS product_category_name
UNION ALL
SELECT row_number() OVER (ORDER BY p.product_id)::integer, p.product_id, p.product_name, p.size, p.price,
       coalesce(c.product_category_name, 'Unknown')
FROM hb.products AS p LEFT JOIN hb.product_categories AS c USING (product_category_id);
ALTER TABLE hb.dim_products ADD PRIMARY KEY (product_key);
\\echo step:dim_locations
CREATE TABLE hb.dim_locations AS
SELECT -1 AS location_key, NULL::bigint AS city_id, 'Unknown' AS city_name, 'Unknown' AS province_name
UNION ALL
SELECT row_number() OVER (ORDER BY c.city_id)::integer, c.city_id, c.city_names, coalesce(p.province_names, 'Unknown')
FROM hb.cities AS c LEFT JOIN hb.provinces AS p USING (province_id);
ALTER TABLE hb.dim_locations ADD PRIMARY KEY (location_key);
\\echo step:fct_transactions
CREATE TABLE hb.fct_transactions AS
SELECT od.order_detail_id, od.order_id, coalesce(d.date_key, -1) AS date_key, coalesce(c.customer_key, -1) AS customer_key,
       coalesce(p.product_key, -1) AS product_key, coalesce(g.location_key, -1) AS location_key,
       od.qty, od.item_price, od.unit_sales, o.order_date
FROM hb.order_details AS od
LEFT JOIN hb.orders AS o ON o.order_id = od.order_id
LEFT JOIN hb.dim_date AS d ON d.full_date = o.order_date::date
LEFT JOIN hb.dim_customers AS c ON c.customer_id = o.customer_id
LEFT JOIN hb.dim_products AS p ON p.product_id = od.product_id
LEFT JOIN hb.dim_locations AS g ON g.city_id = o.city_id;
ALTER TABLE hb.fct_transactions ADD PRIMARY KEY (order_detail_id);
\\echo step:dm_revenue_by_months
CREATE TABLE hb.dm_revenue_by_months AS
SELECT d.month_start AS month, sum(f.unit_sales) AS total_revenue, count(DISTINCT f.order_id) AS total_orders,
       sum(f.qty)::bigint AS total_quantity, round(sum(f.unit_sales) / nullif(count(DISTINCT f.order_id), 0), 2) AS average_order_value
FROM hb.fct_transactions AS f JOIN hb.dim_date AS d USING (date_key)
GROUP BY d.month_start;
ALTER TABLE hb.dm_revenue_by_months ADD PRIMARY KEY (month);
\\echo step:dm_perfomance_product_by_cities
CREATE TABLE hb.dm_perfomance_product_by_cities AS
SELECT l.city_id, l.city_name, l.province_name, p.product_id, p.product_name, p.size, p.product_category_name,
       a.total_quantity, a.total_sales, a.total_orders
FROM (SELECT location_key, product_key, sum(qty)::bigint AS total_quantity, sum(unit_sales) AS total_sales,
             count(DISTINCT order_id) AS total_orders
      FROM hb.fct_transactions GROUP BY location_key, product_key) AS a
JOIN hb.dim_locations AS l USING (location_key)
JOIN hb.dim_products AS p USING (product_key);
CREATE UNIQUE INDEX ON hb.dm_perfomance_product_by_cities (city_id, product_id) NULLS NOT DISTINCT;
\\echo step:dm_perfomance_product_by_cities_monthly
CREATE TABLE hb.dm_perfomance_product_by_cities_monthly AS
SELECT a.month, l.city_id, l.city_name, l.province_name, p.product_id, p.product_name, p.size, p.product_category_name,
       a.total_quantity, a.total_sales, a.total_orders
FROM (SELECT d.month_start AS month, f.location_key, f.product_key, sum(f.qty)::bigint AS total_quantity, sum(f.unit_sales) AS total_sales,
             count(DISTINCT f.order_id) AS total_orders
      FROM hb.fct_transactions AS f LEFT JOIN hb.dim_date AS d USING (date_key) GROUP BY d.month_start, f.location_key, f.product_key) AS a
JOIN hb.dim_locations AS l USING (location_key)
JOIN hb.dim_products AS p USING (product_key);
CREATE UNIQUE INDEX ON hb.dm_perfomance_product_by_cities_monthly (month, city_id, product_id) NULLS NOT DISTINCT;
`;

/** Writes the one-session psql script (schema hb) for a dataset's files; returns its path. */
export async function writeBaselineScript(o: { url: string; dataset: DatasetSpec; dir: string; workDir: string }): Promise<string> {
  if (o.dataset.name !== 'django-apparel') throw new Error(`the hand-written baseline is written for django-apparel, not ${o.dataset.name}`);
  const files = await sourceFiles(o.url, o.dataset, o.dir, o.workDir);
  const lines = ['\\timing on', 'DROP SCHEMA IF EXISTS hb CASCADE;', 'CREATE SCHEMA hb;'];
  for (const f of files) {
    const spec = o.dataset.sources.find((s) => s.name === f.name)!;
    const cols = Object.entries(spec.columns).map(([name, c]) => `${name} ${c.pgType}`);
    lines.push(`\\echo step:copy ${f.name}`);
    lines.push(`CREATE TABLE hb.${f.name} (${cols.join(', ')}, PRIMARY KEY (${spec.primaryKey.join(', ')}));`);
    lines.push(`\\copy hb.${f.name} (${f.columns.join(', ')}) FROM ${psqlQuote(f.file)} WITH (FORMAT csv, HEADER true)`);
  }
  const script = path.join(o.workDir, 'baseline.psql');
  await writeFile(script, `${lines.join('\n')}\n${TRANSFORM}`);
  return script;
}

/** Runs the script in one psql process (timed spawn to exit) and splits psql's own statement timings by step. */
export async function runBaseline(pool: pg.Pool, url: string, script: string, loadAvg: number): Promise<BaselineSample> {
  await pool.query('DROP SCHEMA IF EXISTS hb CASCADE');
  const { ms, steps } = await runTimedScript(pool, url, script);
  await pool.query('DROP SCHEMA IF EXISTS hb CASCADE');
  return { ms, steps, loadAvg };
}

// ---------------------------------------------------------------------------------------------------------
// Report: the whole run against the hand-written session, and where the time goes on each side.

interface Interval {
  activity: string;
  step: string;
  startedAt: number;
  closedAt: number;
}

/** Wall time covered by a set of activity intervals (their union), ms. */
function wall(xs: Interval[]): number {
  let total = 0;
  let end = -Infinity;
  let start = 0;
  for (const a of [...xs].sort((p, q) => p.startedAt - q.startedAt)) {
    if (a.startedAt > end) {
      if (end !== -Infinity) total += end - start;
      start = a.startedAt;
      end = a.closedAt;
    } else end = Math.max(end, a.closedAt);
  }
  return end === -Infinity ? 0 : total + end - start;
}

const INGEST = new Set(['planLoad', 'loadChunk', 'publishLoad', 'loadSource']);
const median = (xs: number[]) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)]! : NaN;
};

/** One run's split: ingest, each layer's builds, every gate, publish (wall time of the activities of each group). */
export function projectSplit(activities: Interval[], layers: { name: string; models: string[] }[]): Record<string, number> {
  const out: Record<string, number> = { ingest: wall(activities.filter((a) => INGEST.has(a.activity))) };
  for (const l of layers) out[`build ${l.name}`] = wall(activities.filter((a) => a.activity === 'buildModel' && l.models.some((m) => a.step === `build ${m}`)));
  out.gates = wall(activities.filter((a) => a.activity === 'checkQuality'));
  out.publish = wall(activities.filter((a) => a.activity === 'publishWarehouse'));
  return out;
}

export function baselineSplit(steps: Record<string, number>, layers: { name: string; models: string[] }[]): Record<string, number> {
  const sum = (pred: (k: string) => boolean) => Object.entries(steps).filter(([k]) => pred(k)).reduce((s, [, v]) => s + v, 0);
  const out: Record<string, number> = { ingest: sum((k) => k.startsWith('copy ')) };
  for (const l of layers) out[`build ${l.name}`] = sum((k) => l.models.includes(k));
  out.gates = 0;
  out.publish = 0;
  return out;
}

/** Markdown lines and the target row for "a whole run within 1.5× of the hand-written baseline". */
export function baselineReport(
  e2e: { samples: { timings: { runMs: number; activities: Interval[] } }[]; baseline?: BaselineSample[] },
  layers: { name: string; models: string[] }[],
): { lines: string[]; target?: { id: string; target: string; measured: string; ratio: number; met: boolean } } {
  const base = e2e.baseline ?? [];
  if (!base.length) return { lines: [] };
  const run = median(e2e.samples.map((v) => v.timings.runMs));
  const psqlMs = median(base.map((b) => b.ms));
  // ratio per repeat: each project run against the psql session right after it (same machine state)
  const ratios = e2e.samples.map((v, i) => (base[i] ? v.timings.runMs / base[i]!.ms : NaN));
  const ratio = median(ratios);
  const p = e2e.samples.map((v) => projectSplit(v.timings.activities, layers));
  const b = base.map((v) => baselineSplit(v.steps, layers));
  const keys = Object.keys(p[0] ?? {});
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    '',
    '### Whole run against a hand-written psql session (issue 14)',
    '',
    'The session: `\\copy` of every source file into a keyed table (the five small JSON/Excel/Parquet sources as CSV exported from staging beforehand, untimed), ' +
      '`CREATE TABLE AS` of each dimension, the fact and both marts, their primary keys; one `psql` process, timed spawn to exit, run right after each project run. ' +
      'Project: `pipelineWorkflow` through Temporal, WorkflowExecutionStarted → Completed. Per-step times: project = wall time of the step\'s activities (history), psql = its `\\timing`.',
    '',
    '| Step | project, s | psql, s | ratio |',
    '| --- | ---: | ---: | ---: |',
    ...keys.map((k) => {
      const pm = median(p.map((x) => x[k] ?? NaN));
      const bm = median(b.map((x) => x[k] ?? NaN));
      return `| ${k} | ${s(pm)} | ${s(bm)} | ${bm > 0 ? `${(pm / bm).toFixed(2)}×` : '–'} |`;
    }),
    `| whole run | ${s(run)} | ${s(psqlMs)} | ${ratio.toFixed(2)}× |`,
    '',
    `Ratios per repeat: ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')} (load average at the psql runs: ${base.map((v) => v.loadAvg).join(', ')}).`,
  ];
  return {
    lines,
    target: {
      id: 'e2e-vs-handwritten',
      target: 'a whole run through Temporal ≤ 1.5× a hand-written psql session',
      measured: `${s(run)} s vs ${s(psqlMs)} s`,
      ratio,
      met: ratio <= 1.5,
    },
  };
}
