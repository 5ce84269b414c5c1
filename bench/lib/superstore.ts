import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { categoriesAt, customersAt, forEachOrderLine } from '../../dataset/generate/superstore';
import type { SuperstoreOptions } from '../../dataset/generate/superstore';
import { csvLine } from '../../dataset/generate/common';
import { getDataset } from '../../src/datasets';
import { stagingDDL, stagingTable } from '../../src/ingest/staging';
import { psqlChecked, psqlQuote, settle } from './db';
import { loadAvg1 } from './proc';
import { dropHandwritten, fingerprint, fingerprintDiff, runHandwritten } from './superstore-baseline';
import type { Fingerprint } from './superstore-baseline';
import { round, spreadPct, summary } from './stats';
import { recordTransform, resetWarehouse, runPsqlScript, runTransform } from './transform';
import type { TransformRun } from './transform';

// Superstore (issue 8): the transform of N Superstore-shaped order lines and M customers (SCD2 merge of customers
// and products, the other dimensions, the fact, the KPI and RFM marts, each layer's gates, the publish) by the
// project's runner, in-process (runModel, runLayerGates, publishRun), against the same statements replayed by one
// `psql -f` session: the first project run (not counted) records every statement it sends. Staging is loaded once,
// untimed, by psql \copy from CSV files the bench writes with the project's generator (dataset/generate/
// superstore.ts: the same rows its workbooks would hold; a 1M-row workbook is not written, see bench/README.md).
// A third method is the same work written by hand in plain SQL (bench/superstore-handwritten.sql, one psql session,
// schema hb_superstore); after every run the eleven tables it built are fingerprinted and compared with the
// project's of the same repeat.

const superstore = getDataset('superstore');

export type SuperstoreKind = 'project' | 'psql' | 'handwritten';

export interface SuperstoreSample {
  /** psql: the project's statements replayed by `psql -f`; handwritten: bench/superstore-handwritten.sql. */
  kind: SuperstoreKind;
  repeat: number;
  ms: number;
  loadAvg: number;
  detail?: TransformRun;
  /** handwritten: psql's \timing per step. */
  steps?: Record<string, number>;
  /** The tables this run built (untimed, taken right after it). */
  fingerprint?: Fingerprint;
  /** psql and handwritten: how the tables differ from the project run's of the same repeat (empty: they agree). */
  differences?: string[];
}

export interface SuperstoreBench {
  orderLines: number;
  customers: number;
  products: number;
  staging: Record<string, number>;
  statementsRecorded: number;
  warmupMs: number;
  facts: number;
  samples: SuperstoreSample[];
  /** Medians: project / replay and project / hand-written. */
  ratios: { projectOverReplay: number; projectOverHandwritten: number };
  /** Every replay and hand-written run built the same tables as the project run of its repeat. */
  agree: boolean;
}

const iso = (d: Date) => d.toISOString().slice(0, 10);

/** Writes orders.csv, customers.csv and categories.csv (staging column order) unless `dir` already holds them. */
async function writeCsvs(dir: string, opts: SuperstoreOptions, log: (m: string) => void): Promise<void> {
  const marker = path.join(dir, '.generated.json');
  if (existsSync(marker)) {
    log(`superstore: reusing ${dir}`);
    return;
  }
  await mkdir(dir, { recursive: true });
  log(`superstore: generating ${opts.orderLines} order lines, ${opts.customers} customers into ${dir}`);
  // forEachOrderLine calls back synchronously, so the write stream buffers what the disk has not taken yet: about
  // 150 MB of text at 1M lines, in the bench process only
  const out = createWriteStream(path.join(dir, 'orders.csv'), { highWaterMark: 1 << 20 });
  let pending: string[] = [];
  forEachOrderLine(opts, (l) => {
    pending.push(csvLine([l.rowId, l.orderId, iso(l.orderDate), iso(l.shipDate), l.shipMode, l.customerId, l.country, l.city, l.state, String(l.postalCode), l.region, l.productId, l.sales, l.quantity, l.discount, l.profit]));
    if (pending.length >= 10_000) {
      out.write(`${pending.join('\n')}\n`);
      pending = [];
    }
  });
  if (pending.length) out.write(`${pending.join('\n')}\n`);
  out.end();
  await finished(out);
  const last = (opts.months ?? 24) - 1;
  await writeFile(path.join(dir, 'customers.csv'), customersAt(opts, last).map((c) => `${csvLine([c.customerId, c.customerName, c.segment])}\n`).join(''));
  await writeFile(path.join(dir, 'categories.csv'), categoriesAt(opts, last).map((c) => `${csvLine([c.productId, c.category, c.subCategory, c.productName])}\n`).join(''));
  await writeFile(marker, JSON.stringify({ ...opts, generatedAt: new Date().toISOString() }));
}

export interface SuperstoreSize {
  pool: pg.Pool;
  url: string;
  orderLines: number;
  customers: number;
  products: number;
  dataDir: string;
  log: (msg: string) => void;
}

/** Generates the Superstore-shaped CSVs (once) and loads them into superstore_staging by psql \copy (untimed). */
export async function loadSuperstoreStaging(o: SuperstoreSize): Promise<Record<string, number>> {
  const { pool, log } = o;
  const opts: SuperstoreOptions = { orderLines: o.orderLines, customers: o.customers, products: o.products, seed: 7, months: 24 };
  const dir = path.join(o.dataDir, `superstore-${o.orderLines}-${o.customers}-${o.products}`);
  await writeCsvs(dir, opts, log);

  const staging: Record<string, number> = {};
  for (const spec of superstore.sources) {
    await pool.query(stagingDDL(spec));
    await pool.query(`TRUNCATE ${stagingTable(spec)}`);
    const cols = Object.keys(spec.columns).join(', ');
    const file = path.join(dir, `${spec.name}.csv`);
    await psqlChecked(o.url, ['-c', `\\copy ${stagingTable(spec).replace(/"/g, '')} (${cols}) FROM ${psqlQuote(file)} WITH (FORMAT csv)`], `psql \\copy ${spec.name}`);
    await pool.query(`ANALYZE ${stagingTable(spec)}`);
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${stagingTable(spec)}`);
    staging[spec.name] = Number(rows[0]!.n);
  }
  if (staging.orders !== o.orderLines) throw new Error(`superstore: staging has ${staging.orders} order lines, expected ${o.orderLines}`);
  log(`superstore: staging loaded (untimed): ${JSON.stringify(staging)}`);
  return staging;
}

export async function benchSuperstore(o: SuperstoreSize & { repeats: number; workDir: string }): Promise<SuperstoreBench> {
  const { pool, log } = o;
  const staging = await loadSuperstoreStaging(o);

  await resetWarehouse(pool, superstore);
  const script = path.join(o.workDir, 'superstore-transform.psql');
  const rec = await recordTransform(pool, superstore, script);
  const { rows: f } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM superstore_dw.fct_sales`);
  const facts = Number(f[0]!.n);
  if (facts !== o.orderLines) throw new Error(`superstore: the fact has ${facts} rows, expected ${o.orderLines}`);
  log(`superstore: warm-up ${(rec.run.totalMs / 1000).toFixed(2)} s, ${rec.statements} statements recorded`);

  const samples: SuperstoreSample[] = [];
  for (let r = 0; r < o.repeats; r++) {
    // the project in the middle: the replay and the hand-written session each go before it in one repeat and after
    // it in the next, so a drift in machine load favours neither
    const order: SuperstoreKind[] = r % 2 === 0 ? ['psql', 'project', 'handwritten'] : ['handwritten', 'project', 'psql'];
    const repeat: SuperstoreSample[] = [];
    for (const kind of order) {
      // every method from an empty warehouse: the project's model tables and the hand-written schema dropped
      await dropHandwritten(pool);
      await resetWarehouse(pool, superstore);
      await settle(pool);
      const loadAvg = loadAvg1();
      let sample: SuperstoreSample;
      if (kind === 'psql') sample = { kind, repeat: r, ms: await runPsqlScript(o.url, script), loadAvg };
      else if (kind === 'handwritten') {
        const h = await runHandwritten(pool, o.url);
        sample = { kind, repeat: r, ms: h.ms, loadAvg, steps: h.steps };
      } else {
        const detail = await runTransform(pool, superstore);
        sample = { kind, repeat: r, ms: detail.totalMs, loadAvg, detail };
      }
      sample.fingerprint = await fingerprint(pool, kind === 'handwritten' ? 'handwritten' : 'project');
      samples.push(sample);
      repeat.push(sample);
      log(`superstore ${r + 1}/${o.repeats} ${kind.padEnd(11)} ${(sample.ms / 1000).toFixed(2)} s (load ${loadAvg})`);
    }
    const project = repeat.find((s) => s.kind === 'project')!;
    for (const s of repeat) {
      if (s === project) continue;
      s.differences = fingerprintDiff(project.fingerprint!, s.fingerprint!);
      log(`superstore ${r + 1}/${o.repeats} ${s.kind} vs project: ${s.differences.length ? `DIFFER: ${s.differences.join('; ')}` : 'same tables (rows, sums, row hashes)'}`);
    }
  }
  await dropHandwritten(pool);
  for (const s of samples) {
    const n = s.fingerprint?.fct_sales?.rows;
    if (n !== o.orderLines) throw new Error(`superstore: the ${s.kind} run of repeat ${s.repeat + 1} built a fact of ${n} rows, expected ${o.orderLines}`);
  }
  const med = (k: SuperstoreKind) => summary(samples.filter((s) => s.kind === k).map((s) => s.ms)).median;
  const ratios = { projectOverReplay: med('project') / med('psql'), projectOverHandwritten: med('project') / med('handwritten') };
  const agree = samples.every((s) => s.kind === 'project' || (s.differences !== undefined && s.differences.length === 0));
  return { orderLines: o.orderLines, customers: o.customers, products: o.products, staging, statementsRecorded: rec.statements, warmupMs: rec.run.totalMs, facts, samples, ratios, agree };
}

const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');

export function renderSuperstore(b: SuperstoreBench): string {
  const of = (k: SuperstoreKind) => summary(b.samples.filter((s) => s.kind === k).map((s) => s.ms));
  const p = of('project');
  const q = of('psql');
  const h = of('handwritten');
  const x = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');
  const row = (label: string, v: typeof p) => `| ${label} | ${sec(v.median)} | ${sec(v.min)} | ${sec(v.max)} | ${round(spreadPct(v), 0)} % |`;
  const lines = [
    `### Superstore transform (issue 8): ${b.orderLines.toLocaleString('en-US')} order lines, ${b.customers.toLocaleString('en-US')} customers, ${b.products.toLocaleString('en-US')} product ids, ${p.n} repeats`,
    '',
    `Staging loaded once, untimed (${Object.entries(b.staging).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}). Every model of every layer, the layers' gates and the publish; ${b.statementsRecorded} statements. ` +
      'The project runs in-process; psql runs the recorded statements as one process (`psql -f`); the hand-written session (bench/superstore-handwritten.sql: ' +
      'CREATE TABLE AS / INSERT … SELECT into schema hb_superstore, primary keys and the same indexes, no gates, no publish) is one `psql -X -v ON_ERROR_STOP=1 -f` process. ' +
      'Both psql methods are timed spawn to exit; every run starts from an empty warehouse; the project runs between the two psql methods, whose order alternates.',
    '',
    '| method | median s | min | max | spread |',
    '| --- | --- | --- | --- | --- |',
    row('project (runModel, runLayerGates, publishRun)', p),
    row('the same statements by `psql -f`', q),
  ];
  if (h.n) lines.push(row('hand-written plain SQL by `psql -f`', h));
  lines.push('', `project / replayed statements = **${x(b.ratios?.projectOverReplay ?? p.median / q.median)}**`);
  if (h.n) lines.push('', `project / hand-written psql = **${x(b.ratios?.projectOverHandwritten ?? p.median / h.median)}**`);
  const checked = b.samples.filter((s) => s.differences !== undefined);
  if (checked.length) {
    lines.push(
      '',
      `Same tables: after every run the eleven tables (dim_customer, dim_product, dim_geography, dim_ship_mode, dim_date, fct_sales, the three KPI marts, rfm_customers, rfm_segments) are fingerprinted: row count, the exact sums of sales, profit, quantity, monetary, customers and orders where a table has them, and an order-free hash of every whole row (surrogate keys included); each psql run is compared with the project run of its repeat. ` +
        (checked.every((s) => s.differences!.length === 0)
          ? `**All ${checked.length} comparisons agree** (every table, every column).`
          : `**Differences**: ${checked.filter((s) => s.differences!.length).map((s) => `repeat ${s.repeat + 1} ${s.kind}: ${s.differences!.join('; ')}`).join(' / ')}`),
    );
    const fp = b.samples.find((s) => s.kind === 'project')?.fingerprint;
    if (fp) {
      lines.push('', '| table | rows | sum(sales) | sum(profit) |', '| --- | ---: | ---: | ---: |');
      for (const [t, f] of Object.entries(fp)) lines.push(`| ${t} | ${f.rows.toLocaleString('en-US')} | ${f.sums.sales ?? (f.sums.monetary ? `monetary ${f.sums.monetary}` : '')} | ${f.sums.profit ?? ''} |`);
    }
  }
  const last = b.samples.filter((s) => s.kind === 'project').at(-1)?.detail;
  const hand = b.samples.filter((s) => s.kind === 'handwritten').at(-1)?.steps;
  if (last) {
    lines.push('', 'Per step of the last project run' + (hand ? ' and the last hand-written session (psql `\\timing`)' : '') + ':', '');
    lines.push(hand ? '| step | project s | rows | hand-written s |' : '| step | s | rows |', hand ? '| --- | --- | --- | --- |' : '| --- | --- | --- |');
    const hs = (k: string) => (hand ? ` ${sec(hand[k] ?? NaN)} |` : '');
    if (hand?.setup !== undefined) lines.push(`| setup (schema, observed date) | | |${hs('setup')}`);
    for (const m of last.models) lines.push(`| ${m.model} | ${sec(m.ms)} | ${m.rows.toLocaleString('en-US')} |${hs(m.model)}`);
    for (const g of last.gates) lines.push(`| gates of ${g.layer} (${g.checks} checks) | ${sec(g.ms)} | |${hand ? ' – |' : ''}`);
    if (last.publishMs !== undefined) lines.push(`| publish | ${sec(last.publishMs)} | |${hand ? ' – |' : ''}`);
  }
  return lines.join('\n');
}
