/**
 * Deterministic generator of a synthetic Django Apparel dataset: the 7 source files the
 * pipeline ingests (see src/datasets/django-apparel.ts), in the same formats and shapes as the
 * real seed files, with invented content.
 *
 *   npm run generate -- [--dataset django-apparel] [--order-lines N] [--out DIR] [--seed S]
 *                                 [--start-month YYYY-MM] [--months M] [--formats csv,excel,json,parquet]
 *                                 [--to-db postgres://...|mariadb://...]
 *
 * Determinism: every random choice comes from a small seeded PRNG (mulberry32), never
 * Math.random. Each table draws from its own stream derived from (seed, table), so the dimension
 * tables are the same for a given seed whatever --order-lines, --months or --formats say, and
 * restricting --formats never changes the content of the files that are written.
 *
 * Streaming: orders.csv and order_details.csv are written while they are generated, one order
 * then its lines, in batches through write streams that honour backpressure, so memory stays
 * bounded however large --order-lines is.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BatchedLineWriter, WeightedIndex, csvLine, generatorMain, parseFlags, streamFor, writeXlsx } from './common';
import { CATEGORIES, buildCities, productPopularity, buildCustomers, buildProducts, buildProvinces, toPandasColumnsJson, writeCustomersParquet } from './django-apparel-tables';
import type { City, Customer, Product } from './django-apparel-tables';
import { seedShopDatabase } from '../to-db';
import { sourceDbLocator } from '../../src/sources/database';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export type Format = 'csv' | 'excel' | 'json' | 'parquet';
export const ALL_FORMATS: readonly Format[] = ['csv', 'excel', 'json', 'parquet'];

export interface GenerateOptions {
  /** Exact number of rows in order_details.csv. Default 6000. */
  orderLines?: number;
  /** Output directory (created if missing). Default "dataset". */
  out?: string;
  /** Unsigned 32-bit seed. Default 42. */
  seed?: number;
  /** First month of orders, "YYYY-MM". Default "2022-01". */
  startMonth?: string;
  /** Number of months the orders span. Default 24. */
  months?: number;
  /** Which file formats to write. Default all four. */
  formats?: readonly Format[];
}

export interface GeneratedFile {
  path: string;
  rows: number;
}

export interface GenerateResult {
  /** Keyed by source name as in the registry: product_categories, products, customers, ... */
  files: Record<string, GeneratedFile>;
}

export const DEFAULTS = {
  orderLines: 6000,
  out: 'dataset',
  seed: 42,
  startMonth: '2022-01',
  months: 24,
  formats: ALL_FORMATS,
} as const;

// ---------------------------------------------------------------------------------------------
// Fact shape: months, lines per order, quantities
// ---------------------------------------------------------------------------------------------

/** Lines per order 1..6, most orders small (mean about 2.5). */
const LINES_PER_ORDER = { values: [1, 2, 3, 4, 5, 6], weights: [28, 23, 22, 15, 9, 3] };
/** Quantity per line: mostly 1–3, a thin tail of bulk buys. */
const QTY = { values: [1, 2, 3, 4, 5, 6, 10], weights: [6050, 2800, 1070, 40, 20, 12, 8] };
/** Month-of-year factor: slow start of the year, Lebaran shopping in spring, 11.11 / 12.12 sales. */
const SEASON = [0.85, 0.85, 1.0, 1.15, 1.1, 0.95, 0.95, 1.0, 0.95, 1.0, 1.15, 1.25];
/** Steady growth of the store: +1.5 % of the first month's volume per month. */
const GROWTH_PER_MONTH = 0.015;

interface Month {
  startMs: number;
  endMs: number;
  quota: number;
}

function parseMonth(s: string): { year: number; month: number } {
  const m = /^(\d{4})-(\d{2})$/.exec(s);
  if (!m) throw new Error(`--start-month must look like YYYY-MM, got "${s}"`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  if (month < 1 || month > 12 || year < 1970 || year > 9999) throw new Error(`--start-month out of range: "${s}"`);
  return { year, month };
}

/** Splits the order lines over the months by weight, exactly (largest remainder). */
function planMonths(orderLines: number, startMonth: string, months: number): Month[] {
  const { year, month } = parseMonth(startMonth);
  const weights: number[] = [];
  const plan: Month[] = [];
  for (let i = 0; i < months; i++) {
    const m0 = month - 1 + i;
    plan.push({
      startMs: Date.UTC(year, m0, 1),
      endMs: Date.UTC(year, m0 + 1, 1),
      quota: 0,
    });
    weights.push((SEASON[(m0 % 12 + 12) % 12] as number) * (1 + GROWTH_PER_MONTH * i));
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const raw = weights.map((w) => (orderLines * w) / total);
  let assigned = 0;
  plan.forEach((m, i) => {
    m.quota = Math.floor(raw[i] as number);
    assigned += m.quota;
  });
  const byRemainder = raw.map((r, i) => ({ i, frac: r - Math.floor(r) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; assigned < orderLines; k++, assigned++) (plan[(byRemainder[k % months] as { i: number }).i] as Month).quota++;
  return plan;
}

/** `2022-01-01 00:00:00.000`, the seed's timestamp format (UTC wall clock, whole seconds). */
function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2022-01-01T00:00:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

const BATCH_LINES = 8192;

async function writeFacts(
  dir: string,
  seed: number,
  orderLines: number,
  startMonth: string,
  months: number,
  dims: { customers: Customer[]; cities: City[]; products: Product[] },
): Promise<{ orders: number; lines: number }> {
  const rng = streamFor(seed, 'facts');
  // Some customers are regulars, some cities bigger markets, some products sell better.
  const customerPick = new WeightedIndex(dims.customers.map(() => 0.5 + rng.next()));
  const cityPick = new WeightedIndex(dims.cities.map((c) => (0.6 + 0.8 * rng.next()) * (c.city_names.startsWith('KOTA ') ? 1.6 : 1)));
  const productPick = new WeightedIndex(dims.products.map((p) => productPopularity(p.product_name, p.size)));
  const linesPick = new WeightedIndex(LINES_PER_ORDER.weights);
  const qtyPick = new WeightedIndex(QTY.weights);

  const orders = new BatchedLineWriter(path.join(dir, 'orders.csv'), csvLine(['order_id', 'order_date', 'customer_id', 'province_id', 'city_id']));
  const details = new BatchedLineWriter(
    path.join(dir, 'order_details.csv'),
    csvLine(['order_detail_id', 'order_id', 'product_id', 'qty', 'item_price', 'unit_sales']),
  );
  // If either stream fails, stop generating rather than wait for a 'drain' that never comes.
  let failure: Error | undefined;
  const onError = (e: Error) => {
    failure ??= e;
  };
  orders.stream.on('error', onError);
  details.stream.on('error', onError);

  let orderId = 1;
  let detailId = 10_000;
  const inOrder: number[] = [];
  try {
    for (const month of planMonths(orderLines, startMonth, months)) {
      const spanSeconds = (month.endMs - month.startMs) / 1000;
      let done = 0;
      while (done < month.quota) {
        const k = Math.min(LINES_PER_ORDER.values[linesPick.draw(rng)] as number, month.quota - done);
        // Orders spread evenly over the month by line count, jittered, never going back in time.
        const at = month.startMs + Math.floor((spanSeconds * (done + rng.next())) / month.quota) * 1000;
        const customer = dims.customers[customerPick.draw(rng)] as Customer;
        const city = dims.cities[cityPick.draw(rng)] as City;
        orders.push(`${orderId},${formatTimestamp(at)},${customer.customer_id},${city.province_id},${city.city_id}`);
        inOrder.length = 0;
        while (inOrder.length < k) {
          const idx = productPick.draw(rng);
          if (inOrder.includes(idx)) continue; // one line per product within an order
          inOrder.push(idx);
          const product = dims.products[idx] as Product;
          const qty = QTY.values[qtyPick.draw(rng)] as number;
          details.push(`${detailId},${orderId},${product.product_id},${qty},${product.price},${qty * product.price}`);
          detailId++;
        }
        done += k;
        orderId++;
        if (details.pending >= BATCH_LINES) {
          if (failure) throw failure;
          await Promise.all([orders.flush(), details.flush()]);
        }
      }
    }
    if (failure) throw failure;
    await Promise.all([orders.close(), details.close()]);
  } catch (e) {
    orders.stream.destroy();
    details.stream.destroy();
    throw e;
  }
  return { orders: orderId - 1, lines: detailId - 10_000 };
}

/** A workbook of `rows` with `columns` as its header (the creator string is part of the committed sample's bytes). */
function xlsx<T extends object>(file: string, sheet: string, rows: readonly T[], columns: readonly (keyof T & string)[]): Promise<void> {
  return writeXlsx(file, sheet, columns, rows, (r) => columns.map((c) => r[c] as unknown), 'gudang dataset/generate.ts');
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

function resolveOptions(opts: GenerateOptions): Required<GenerateOptions> {
  const o = {
    orderLines: opts.orderLines ?? DEFAULTS.orderLines,
    out: opts.out ?? DEFAULTS.out,
    seed: opts.seed ?? DEFAULTS.seed,
    startMonth: opts.startMonth ?? DEFAULTS.startMonth,
    months: opts.months ?? DEFAULTS.months,
    formats: opts.formats ?? DEFAULTS.formats,
  };
  if (!Number.isSafeInteger(o.orderLines) || o.orderLines < 0) throw new Error(`order lines must be a non-negative integer, got ${o.orderLines}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new Error(`seed must be an integer in [0, 4294967295], got ${o.seed}`);
  if (!Number.isInteger(o.months) || o.months < 1 || o.months > 1200) throw new Error(`months must be an integer in [1, 1200], got ${o.months}`);
  parseMonth(o.startMonth);
  for (const f of o.formats) if (!ALL_FORMATS.includes(f)) throw new Error(`unknown format "${f}" (expected ${ALL_FORMATS.join(', ')})`);
  return o;
}

/** Generates the dataset into opts.out. Same options → byte-identical files. */
export async function generateDataset(opts: GenerateOptions = {}): Promise<GenerateResult> {
  const o = resolveOptions(opts);
  await mkdir(o.out, { recursive: true });
  const want = new Set(o.formats);
  const files: Record<string, GeneratedFile> = {};
  const at = (name: string) => path.join(o.out, name);

  const products = buildProducts();
  const customers = buildCustomers(o.seed);
  const provinces = buildProvinces();
  const cities = buildCities(o.seed);

  if (want.has('json')) {
    await writeFile(at('product_categories.json'), toPandasColumnsJson(CATEGORIES, ['product_category_id', 'product_category_name']));
    files.product_categories = { path: at('product_categories.json'), rows: CATEGORIES.length };
    await writeFile(at('products.json'), toPandasColumnsJson(products, ['product_id', 'product_name', 'size', 'price', 'product_category_id']));
    files.products = { path: at('products.json'), rows: products.length };
  }
  if (want.has('parquet')) {
    await writeCustomersParquet(at('customers.parquet'), customers);
    files.customers = { path: at('customers.parquet'), rows: customers.length };
  }
  if (want.has('excel')) {
    await xlsx(at('provinces.xlsx'), 'Sheet1', provinces, ['province_id', 'province_names']);
    files.provinces = { path: at('provinces.xlsx'), rows: provinces.length };
    await xlsx(at('cities.xlsx'), 'Worksheet', cities, ['city_id', 'city_names', 'province_id']);
    files.cities = { path: at('cities.xlsx'), rows: cities.length };
  }
  if (want.has('csv')) {
    const n = await writeFacts(o.out, o.seed, o.orderLines, o.startMonth, o.months, { customers, cities, products });
    files.orders = { path: at('orders.csv'), rows: n.orders };
    files.order_details = { path: at('order_details.csv'), rows: n.lines };
  }
  return { files };
}

const USAGE = `Usage: tsx dataset/generate.ts [options]

  --order-lines N      rows in order_details.csv, exactly (default ${DEFAULTS.orderLines})
  --out DIR            output directory (default ${DEFAULTS.out})
  --seed S             unsigned 32-bit seed (default ${DEFAULTS.seed})
  --start-month YYYY-MM  first month of orders (default ${DEFAULTS.startMonth})
  --months M           months the orders span (default ${DEFAULTS.months})
  --formats LIST       comma-separated subset of csv,excel,json,parquet (default all):
                         csv → orders.csv, order_details.csv
                         excel → provinces.xlsx, cities.xlsx
                         json → product_categories.json, products.json
                         parquet → customers.parquet
  --to-db URL          then seed the shop database at URL (postgres:// or mariadb://) with the generated
                       orders and order lines: tables orders and order_details (re)created and filled from
                       the CSV files as they stream (PostgreSQL COPY FROM STDIN, MariaDB multi-row INSERTs of 1,000 rows)
  -h, --help           this text
`;

/** The command line: the generator's options plus where to seed a shop database. */
export interface GenerateArgs extends GenerateOptions {
  toDb?: string;
}

const FLAGS = {
  '--order-lines': ['orderLines', 'int'],
  '--out': ['out', 'text'],
  '--seed': ['seed', 'int'],
  '--start-month': ['startMonth', 'text'],
  '--months': ['months', 'int'],
  '--formats': ['formats', (v: string) => v.split(',').map((f) => f.trim()).filter(Boolean) as Format[]],
  // a bad URL fails before anything is generated (the message never echoes a password)
  '--to-db': ['toDb', (v: string) => (sourceDbLocator(v), v)],
} as const;

export function parseArgs(argv: readonly string[]): GenerateArgs | 'help' {
  return parseFlags<GenerateArgs>(argv, FLAGS);
}

/** `npm run generate -- --dataset django-apparel ...` (the default dataset). Returns the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  return generatorMain(
    argv,
    USAGE,
    parseArgs,
    async ({ toDb, ...generate }) => {
      const { files } = await generateDataset(generate);
      const lines = Object.entries(files).map(([name, f]) => `${name.padEnd(20)} ${String(f.rows).padStart(10)} rows  ${f.path}`);
      if (toDb !== undefined) {
        const seeded = await seedShopDatabase(toDb, generate.out ?? DEFAULTS.out);
        lines.push(`seeded ${seeded.locator}: orders ${seeded.orders} rows, order_details ${seeded.orderDetails} rows in ${(seeded.durationMs / 1000).toFixed(1)} s`);
      }
      return lines;
    },
    (o) => (o.toDb !== undefined && o.formats !== undefined && !o.formats.includes('csv') ? '--to-db seeds orders and order_details from the CSV files: --formats must include csv' : undefined),
  );
}
