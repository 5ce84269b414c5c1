import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { DEFAULTS, generateDataset, parseArgs, type GenerateOptions } from '../../dataset/generate';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMMITTED = path.join(ROOT, 'dataset');
const ALL_FILES = [
  'product_categories.json',
  'products.json',
  'customers.parquet',
  'provinces.xlsx',
  'cities.xlsx',
  'orders.csv',
  'order_details.csv',
];

async function withTempDirs<T>(n: number, fn: (dirs: string[]) => Promise<T>): Promise<T> {
  const dirs: string[] = [];
  try {
    for (let i = 0; i < n; i++) dirs.push(await mkdtemp(path.join(tmpdir(), 'gudang-gen-')));
    return await fn(dirs);
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function hashes(dir: string, files = ALL_FILES): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of files) out[f] = await sha256(path.join(dir, f));
  return out;
}

/** Header + rows of a CSV with no quoted fields (what the generator emits for these tables). */
async function readCsv(file: string): Promise<{ header: string[]; rows: string[][] }> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.endsWith('\n'), `${file} ends with a newline`);
  assert.ok(!text.includes('\r'), `${file} uses LF line endings`);
  const lines = text.slice(0, -1).split('\n');
  const header = (lines.shift() as string).split(',');
  return { header, rows: lines.map((l) => l.split(',')) };
}

/** pandas "columns" orientation back to rows. */
async function readColumnsJson(file: string): Promise<Record<string, unknown>[]> {
  const obj = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, unknown>>;
  const cols = Object.keys(obj);
  const keys = Object.keys(obj[cols[0] as string] as object);
  keys.forEach((k, i) => assert.equal(k, String(i), 'row keys are "0", "1", ... in order'));
  return keys.map((k) => Object.fromEntries(cols.map((c) => [c, (obj[c] as Record<string, unknown>)[k]])));
}

async function readSheet(file: string, sheet: string): Promise<{ header: unknown[]; rows: unknown[][] }> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.getWorksheet(sheet);
  assert.ok(ws, `${path.basename(file)} has sheet "${sheet}"`);
  const all: unknown[][] = [];
  ws.eachRow((row) => all.push((row.values as unknown[]).slice(1)));
  return { header: all[0] ?? [], rows: all.slice(1) };
}

/** Reads every generated file back and checks shapes and referential integrity. Returns row counts. */
async function verifyDataset(dir: string, opts: Required<Pick<GenerateOptions, 'startMonth' | 'months'>>): Promise<Record<string, number>> {
  const categories = await readColumnsJson(path.join(dir, 'product_categories.json'));
  assert.deepEqual(Object.keys(categories[0] ?? {}), ['product_category_id', 'product_category_name']);
  const categoryIds = new Set(categories.map((c) => c.product_category_id));

  const products = await readColumnsJson(path.join(dir, 'products.json'));
  assert.deepEqual(Object.keys(products[0] ?? {}), ['product_id', 'product_name', 'size', 'price', 'product_category_id']);
  const priceOf = new Map<number, number>();
  for (const p of products) {
    assert.ok(Number.isInteger(p.product_id) && Number.isInteger(p.price) && (p.price as number) > 0, 'integer ids, whole-rupiah prices');
    assert.ok(categoryIds.has(p.product_category_id), `product ${p.product_id} has a known category`);
    priceOf.set(p.product_id as number, p.price as number);
  }
  assert.equal(priceOf.size, products.length, 'product ids unique');
  assert.ok(new Set(products.map((p) => p.product_name)).size < products.length, 'product names are shared across sizes');

  const file = await asyncBufferFromFile(path.join(dir, 'customers.parquet'));
  const meta = await parquetMetadataAsync(file);
  const schema = Object.fromEntries(meta.schema.slice(1).map((s) => [s.name, s]));
  assert.deepEqual(Object.keys(schema), ['customer_id', 'first_name', 'last_name', 'gender']);
  assert.equal(schema.customer_id?.type, 'INT64');
  for (const c of ['first_name', 'last_name', 'gender']) {
    assert.equal(schema[c]?.type, 'BYTE_ARRAY');
    assert.equal(schema[c]?.converted_type, 'UTF8');
  }
  const customers = await parquetReadObjects({ file });
  const customerIds = new Set<number>();
  for (const c of customers) {
    assert.equal(typeof c.customer_id, 'bigint', 'customer_id reads back as bigint');
    assert.equal(typeof c.first_name, 'string');
    assert.ok(c.gender === null || c.gender === 'Male' || c.gender === 'Female');
    customerIds.add(Number(c.customer_id));
  }
  assert.equal(customerIds.size, customers.length, 'customer ids unique');

  const provinces = await readSheet(path.join(dir, 'provinces.xlsx'), 'Sheet1');
  assert.deepEqual(provinces.header, ['province_id', 'province_names']);
  const provinceIds = new Set(provinces.rows.map((r) => r[0]));
  for (const r of provinces.rows) assert.match(String(r[1]), /^[A-Z ]+$/, 'province names in upper case');

  const cities = await readSheet(path.join(dir, 'cities.xlsx'), 'Worksheet');
  assert.deepEqual(cities.header, ['city_id', 'city_names', 'province_id']);
  const provinceOfCity = new Map<number, number>();
  for (const [id, name, province] of cities.rows) {
    assert.match(String(name), /^(KABUPATEN|KOTA) [A-Z ]+$/);
    assert.ok(provinceIds.has(province), `city ${id} is in a known province`);
    provinceOfCity.set(id as number, province as number);
  }
  assert.equal(provinceOfCity.size, cities.rows.length, 'city ids unique');

  const orders = await readCsv(path.join(dir, 'orders.csv'));
  assert.deepEqual(orders.header, ['order_id', 'order_date', 'customer_id', 'province_id', 'city_id']);
  const start = new Date(`${opts.startMonth}-01T00:00:00Z`);
  const end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + opts.months, 1));
  const fmt = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 23);
  const orderIds = new Set<number>();
  let previousDate = '';
  orders.rows.forEach(([id, date, customer, province, city], i) => {
    assert.equal(Number(id), i + 1, 'order ids 1..n in order');
    assert.match(date as string, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.000$/);
    assert.ok((date as string) >= previousDate, `order dates never go back (order ${id})`);
    assert.ok((date as string) >= fmt(start) && (date as string) < fmt(end), `order ${id} date ${date} within the months`);
    previousDate = date as string;
    assert.ok(customerIds.has(Number(customer)), `order ${id}: customer ${customer} exists`);
    assert.ok(provinceIds.has(Number(province)), `order ${id}: province ${province} exists`);
    assert.equal(provinceOfCity.get(Number(city)), Number(province), `order ${id}: city ${city} exists and lies in province ${province}`);
    orderIds.add(Number(id));
  });

  const details = await readCsv(path.join(dir, 'order_details.csv'));
  assert.deepEqual(details.header, ['order_detail_id', 'order_id', 'product_id', 'qty', 'item_price', 'unit_sales']);
  const linesPerOrder = new Map<number, number>();
  details.rows.forEach((r, i) => {
    const [id, order, product, qty, price, sales] = r.map(Number) as [number, number, number, number, number, number];
    assert.equal(r.length, 6);
    assert.equal(id, 10_000 + i, 'order_detail_id contiguous from 10000');
    assert.ok(orderIds.has(order), `line ${id}: order ${order} exists`);
    assert.ok(priceOf.has(product), `line ${id}: product ${product} exists`);
    assert.equal(price, priceOf.get(product), `line ${id}: item_price is the product's price`);
    assert.ok(Number.isInteger(qty) && qty > 0, `line ${id}: positive integer qty`);
    assert.equal(sales, qty * price, `line ${id}: unit_sales = qty × item_price`);
    linesPerOrder.set(order, (linesPerOrder.get(order) ?? 0) + 1);
  });
  assert.equal(linesPerOrder.size, orderIds.size, 'every order has at least one line');

  return {
    product_categories: categories.length,
    products: products.length,
    customers: customers.length,
    provinces: provinces.rows.length,
    cities: cities.rows.length,
    orders: orders.rows.length,
    order_details: details.rows.length,
  };
}

void test('same seed gives byte-identical files, xlsx included', async () => {
  await withTempDirs(2, async ([a, b]) => {
    await generateDataset({ out: a, orderLines: 1500 });
    await new Promise((r) => setTimeout(r, 2100)); // past the zip format's 2-second clock resolution
    await generateDataset({ out: b, orderLines: 1500 });
    assert.deepEqual(await hashes(a as string), await hashes(b as string));
  });
});

void test('a different seed gives different data (the product catalogue is fixed by design)', async () => {
  await withTempDirs(2, async ([a, b]) => {
    await generateDataset({ out: a, orderLines: 1500, seed: 1 });
    await generateDataset({ out: b, orderLines: 1500, seed: 2 });
    const ha = await hashes(a as string);
    const hb = await hashes(b as string);
    for (const f of ['orders.csv', 'order_details.csv', 'customers.parquet', 'cities.xlsx']) assert.notEqual(ha[f], hb[f], `${f} differs`);
    for (const f of ['product_categories.json', 'products.json', 'provinces.xlsx']) assert.equal(ha[f], hb[f], `${f} is seed-independent`);
  });
});

void test('referential integrity, prices and row counts, read back from the files', async () => {
  await withTempDirs(1, async ([dir]) => {
    const cases = [
      { orderLines: 0, months: 24, startMonth: '2022-01' },
      { orderLines: 1, months: 24, startMonth: '2022-01' },
      { orderLines: 17, months: 3, startMonth: '2023-11' },
      { orderLines: 4321, months: 24, startMonth: '2022-01', seed: 7 },
      { orderLines: 2000, months: 1, startMonth: '2024-02' },
    ];
    for (const c of cases) {
      const { files } = await generateDataset({ ...c, out: dir });
      const counts = await verifyDataset(dir as string, c);
      assert.equal(counts.order_details, c.orderLines, `exactly ${c.orderLines} order lines`);
      assert.ok(counts.orders <= c.orderLines && (c.orderLines === 0 || counts.orders > 0));
      for (const [name, n] of Object.entries(counts)) assert.equal(files[name]?.rows, n, `reported rows of ${name}`);
      assert.equal(Object.keys(files).length, 7);
    }
  });
});

void test('many batches: streamed output is complete and consistent', async () => {
  await withTempDirs(1, async ([dir]) => {
    const { files } = await generateDataset({ out: dir, orderLines: 100_000, seed: 99 });
    const counts = await verifyDataset(dir as string, { startMonth: DEFAULTS.startMonth, months: DEFAULTS.months });
    assert.equal(counts.order_details, 100_000);
    assert.equal(files.orders?.rows, counts.orders);
  });
});

void test('--formats restricts the files written without changing their content', async () => {
  await withTempDirs(2, async ([all, some]) => {
    await generateDataset({ out: all, orderLines: 800 });
    const { files } = await generateDataset({ out: some, orderLines: 800, formats: ['csv', 'parquet'] });
    assert.deepEqual(Object.keys(files).sort(), ['customers', 'order_details', 'orders']);
    assert.deepEqual((await readdir(some as string)).sort(), ['customers.parquet', 'order_details.csv', 'orders.csv']);
    const subset = ['customers.parquet', 'order_details.csv', 'orders.csv'];
    assert.deepEqual(await hashes(some as string, subset), await hashes(all as string, subset));
  });
});

void test('the committed sample in dataset/ is exactly what the generator makes with default options', async () => {
  await withTempDirs(1, async ([dir]) => {
    const { files } = await generateDataset({ out: dir });
    assert.equal(files.order_details?.rows, DEFAULTS.orderLines);
    assert.deepEqual(await hashes(COMMITTED), await hashes(dir as string), 'regenerate with `npm run generate` and commit');
  });
});

void test('CLI arguments', () => {
  assert.deepEqual(parseArgs([]), {});
  assert.deepEqual(
    parseArgs(['--order-lines', '10_000_000', '--out', '/tmp/x', '--seed=7', '--start-month', '2021-06', '--months', '6', '--formats', 'csv,json']),
    { orderLines: 10_000_000, out: '/tmp/x', seed: 7, startMonth: '2021-06', months: 6, formats: ['csv', 'json'] },
  );
  assert.equal(parseArgs(['--help']), 'help');
  assert.throws(() => parseArgs(['--order-lines', '-3']), /non-negative integer/);
  assert.throws(() => parseArgs(['--bogus']), /unknown argument/);
  assert.throws(() => parseArgs(['--out']), /needs a value/);
});

void test('invalid options are rejected', async () => {
  await assert.rejects(generateDataset({ out: tmpdir(), startMonth: '2022-13' }), /out of range/);
  await assert.rejects(generateDataset({ out: tmpdir(), months: 0 }), /months/);
  await assert.rejects(generateDataset({ out: tmpdir(), formats: ['xml' as never] }), /unknown format/);
});

void test('the CLI writes the requested formats', async () => {
  await withTempDirs(1, async ([dir]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'dataset/generate.ts'), '--order-lines', '250', '--out', dir as string, '--formats', 'csv,excel'],
      { cwd: ROOT },
    );
    assert.match(stdout, /order_details\s+250 rows/);
    assert.deepEqual((await readdir(dir as string)).sort(), ['cities.xlsx', 'order_details.csv', 'orders.csv', 'provinces.xlsx']);
  });
});
