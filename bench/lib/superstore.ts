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
import { round, spreadPct, summary } from './stats';
import { recordTransform, resetWarehouse, runPsqlScript, runTransform } from './transform';
import type { TransformRun } from './transform';

// Superstore (issue 8): the transform of N Superstore-shaped order lines and M customers (SCD2 merge of customers
// and products, the other dimensions, the fact, the KPI and RFM marts, each layer's gates, the publish) by the
// project's runner, in-process (runModel, runLayerGates, publishRun), against the same statements replayed by one
// `psql -f` session: the first project run (not counted) records every statement it sends. Staging is loaded once,
// untimed, by psql \copy from CSV files the bench writes with the project's generator (dataset/generate/
// superstore.ts: the same rows its workbooks would hold; a 1M-row workbook is not written, see bench/README.md).

const superstore = getDataset('superstore');

export interface SuperstoreSample {
  kind: 'project' | 'psql';
  repeat: number;
  ms: number;
  loadAvg: number;
  detail?: TransformRun;
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

export async function benchSuperstore(o: {
  pool: pg.Pool;
  url: string;
  orderLines: number;
  customers: number;
  products: number;
  repeats: number;
  dataDir: string;
  workDir: string;
  log: (msg: string) => void;
}): Promise<SuperstoreBench> {
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

  await resetWarehouse(pool, superstore);
  const script = path.join(o.workDir, 'superstore-transform.psql');
  const rec = await recordTransform(pool, superstore, script);
  const { rows: f } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM superstore_dw.fct_sales`);
  const facts = Number(f[0]!.n);
  if (facts !== o.orderLines) throw new Error(`superstore: the fact has ${facts} rows, expected ${o.orderLines}`);
  log(`superstore: warm-up ${(rec.run.totalMs / 1000).toFixed(2)} s, ${rec.statements} statements recorded`);

  const samples: SuperstoreSample[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const order: ('project' | 'psql')[] = r % 2 === 0 ? ['psql', 'project'] : ['project', 'psql'];
    for (const kind of order) {
      await resetWarehouse(pool, superstore);
      await settle(pool);
      const loadAvg = loadAvg1();
      if (kind === 'psql') samples.push({ kind, repeat: r, ms: await runPsqlScript(o.url, script), loadAvg });
      else {
        const detail = await runTransform(pool, superstore);
        samples.push({ kind, repeat: r, ms: detail.totalMs, loadAvg, detail });
      }
      log(`superstore ${r + 1}/${o.repeats} ${kind.padEnd(7)} ${(samples.at(-1)!.ms / 1000).toFixed(2)} s (load ${loadAvg})`);
    }
  }
  const { rows: f2 } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM superstore_dw.fct_sales`);
  if (Number(f2[0]!.n) !== o.orderLines) throw new Error(`superstore: the last run's fact has ${f2[0]!.n} rows`);
  return { orderLines: o.orderLines, customers: o.customers, products: o.products, staging, statementsRecorded: rec.statements, warmupMs: rec.run.totalMs, facts, samples };
}

const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');

export function renderSuperstore(b: SuperstoreBench): string {
  const p = summary(b.samples.filter((s) => s.kind === 'project').map((s) => s.ms));
  const q = summary(b.samples.filter((s) => s.kind === 'psql').map((s) => s.ms));
  const ratio = p.median / q.median;
  const lines = [
    `### Superstore transform (issue 8): ${b.orderLines.toLocaleString('en-US')} order lines, ${b.customers.toLocaleString('en-US')} customers, ${b.products.toLocaleString('en-US')} product ids, ${p.n} repeats`,
    '',
    `Staging loaded once, untimed (${Object.entries(b.staging).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}). Every model of every layer, the layers' gates and the publish; ${b.statementsRecorded} statements. The project runs in-process; psql runs the recorded statements as one process (\`psql -f\`).`,
    '',
    '| method | median s | min | max | spread |',
    '| --- | --- | --- | --- | --- |',
    `| project (runModel, runLayerGates, publishRun) | ${sec(p.median)} | ${sec(p.min)} | ${sec(p.max)} | ${round(spreadPct(p), 0)} % |`,
    `| the same statements by \`psql -f\` | ${sec(q.median)} | ${sec(q.min)} | ${sec(q.max)} | ${round(spreadPct(q), 0)} % |`,
    '',
    `project / psql = **${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'}×**`,
  ];
  const last = b.samples.filter((s) => s.kind === 'project').at(-1)?.detail;
  if (last) {
    lines.push('', 'Per step of the last project run:', '', '| step | s | rows |', '| --- | --- | --- |');
    for (const m of last.models) lines.push(`| ${m.model} | ${sec(m.ms)} | ${m.rows.toLocaleString('en-US')} |`);
    for (const g of last.gates) lines.push(`| gates of ${g.layer} (${g.checks} checks) | ${sec(g.ms)} | |`);
    if (last.publishMs !== undefined) lines.push(`| publish | ${sec(last.publishMs)} | |`);
  }
  return lines.join('\n');
}
