/**
 * Deterministic generator of Superstore-shaped deliveries: the three workbooks the Superstore dataset ingests
 * (src/datasets/superstore.ts), with the real files' sheet and header names, and invented content.
 *
 *   npm run generate -- --dataset superstore [--order-lines N] [--customers M] [--products P] [--out DIR]
 *                       [--seed S] [--start-month YYYY-MM] [--months K] [--monthly]
 *
 * History: every month a few customers change segment (and now and then their name) and a few products change name,
 * so a run per month builds type 2 history. One delivery (the default) holds every order line and the customers and
 * categories as of the last month; --monthly writes DIR/<YYYY-MM>/ per month instead: that month's order lines and
 * the customers and categories as of that month, the way the retailer's shared folder receives them.
 * About 1.7% of product ids come with a second name in Categories, as in the real files.
 *
 * Determinism: all randomness comes from seeded streams (dataset/generate/common.ts), one per concern, so the same
 * options always give byte-identical workbooks.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { WeightedIndex, deriveSeed, generatorMain, parseFlags, streamFor, writeXlsx } from './common';
import { SUB_CATEGORIES, cityPick, customerName, productName, GEOGRAPHY, SEGMENTS, SHIP_MODES } from './superstore-tables';

export interface SuperstoreOptions {
  orderLines?: number;
  customers?: number;
  products?: number;
  out?: string;
  seed?: number;
  startMonth?: string;
  months?: number;
  /** One folder per month (orders of the month, customers and categories as of the month). */
  monthly?: boolean;
}

export const SUPERSTORE_DEFAULTS = {
  orderLines: 3000,
  customers: 300,
  products: 400,
  out: 'dataset/superstore',
  seed: 7,
  startMonth: '2023-01',
  months: 24,
  monthly: false,
} as const;

/** Probability per customer per month of a segment change, per product per month of a name change. */
const SEGMENT_CHANGE = 0.01;
const PRODUCT_RENAME = 0.005;
const SECOND_NAME = 0.017;

export interface OrderLine {
  rowId: number;
  orderId: string;
  orderDate: Date;
  shipDate: Date;
  shipMode: string;
  customerId: string;
  country: string;
  city: string;
  state: string;
  postalCode: number;
  region: string;
  productId: string;
  sales: number;
  quantity: number;
  discount: number;
  profit: number;
}

export interface CustomerRow {
  customerId: string;
  customerName: string;
  segment: string;
}

export interface CategoryRow {
  productId: string;
  category: string;
  subCategory: string;
  productName: string;
}

export interface Delivery {
  orders: readonly OrderLine[];
  customers: readonly CustomerRow[];
  categories: readonly CategoryRow[];
}

export const WORKBOOKS = {
  orders: 'Dataset Superstore Orders - BI Engineer.xlsx',
  customers: 'Dataset Superstore Customers - BI Engineer.xlsx',
  categories: 'Dataset Superstore Categories - BI Engineer.xlsx',
} as const;

type Resolved = Required<SuperstoreOptions>;

function resolve(opts: SuperstoreOptions): Resolved {
  const o = { ...SUPERSTORE_DEFAULTS, ...opts } as Resolved;
  for (const k of ['orderLines', 'customers', 'products', 'months'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new Error(`${k} must be a positive integer, got ${o[k]}`);
  }
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(o.startMonth)) throw new Error(`start month must be YYYY-MM, got ${o.startMonth}`);
  return o;
}

const monthStart = (o: Resolved, i: number) => {
  const [y, m] = o.startMonth.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 + i, 1));
};
export const monthLabel = (d: Date) => d.toISOString().slice(0, 7);
const chance = (seed: number, label: string) => deriveSeed(seed, label) / 4294967296;

/** The customers as of month `i` (0-based): their segment changes of months 1..i applied. */
export function customersAt(opts: SuperstoreOptions, i: number): CustomerRow[] {
  const o = resolve(opts);
  const rng = streamFor(o.seed, 'customers');
  const rows: CustomerRow[] = [];
  for (let c = 0; c < o.customers; c++) {
    const name = customerName(rng);
    let segment = SEGMENTS[rng.int(0, SEGMENTS.length - 1)]!;
    let customerName_ = name;
    for (let m = 1; m <= i; m++) {
      if (chance(o.seed, `segment:${c}:${m}`) < SEGMENT_CHANGE) {
        segment = SEGMENTS[(SEGMENTS.indexOf(segment) + 1 + (deriveSeed(o.seed, `to:${c}:${m}`) % 2)) % SEGMENTS.length]!;
        if (chance(o.seed, `rename:${c}:${m}`) < 0.2) customerName_ = `${customerName_.split(' ')[0]} ${customerName(streamFor(o.seed, `surname:${c}:${m}`)).split(' ')[1]}`;
      }
    }
    const initials = name.split(' ').map((w) => w[0]).join('');
    rows.push({ customerId: `${initials}-${String(10000 + c * 7).padStart(5, '0')}`, customerName: customerName_, segment });
  }
  return rows;
}

/** The Categories rows as of month `i`: one per product id, two for the ids that come with a second name. */
export function categoriesAt(opts: SuperstoreOptions, i: number): CategoryRow[] {
  const o = resolve(opts);
  const rng = streamFor(o.seed, 'products');
  const rows: CategoryRow[] = [];
  for (let p = 0; p < o.products; p++) {
    const sub = SUB_CATEGORIES[rng.int(0, SUB_CATEGORIES.length - 1)]!;
    const productId = `${sub.category.slice(0, 3).toUpperCase()}-${sub.name.slice(0, 2).toUpperCase()}-${10000000 + p * 13}`;
    let name = productName(rng, sub.name);
    for (let m = 1; m <= i; m++) {
      if (chance(o.seed, `product:${p}:${m}`) < PRODUCT_RENAME) name = productName(streamFor(o.seed, `newname:${p}:${m}`), sub.name);
    }
    rows.push({ productId, category: sub.category, subCategory: sub.name, productName: name });
    if (chance(o.seed, `second:${p}`) < SECOND_NAME) {
      rows.push({ productId, category: sub.category, subCategory: sub.name, productName: `${name}, ${['Refurbished', 'Bulk Pack', 'Value Edition'][p % 3]}` });
    }
  }
  return rows;
}

/** Every order line, month by month (growing ~1.5% a month), each order 1 to 5 lines. Calls `emit` in row order. */
export function forEachOrderLine(opts: SuperstoreOptions, emit: (line: OrderLine, month: number) => void): void {
  const o = resolve(opts);
  const rng = streamFor(o.seed, 'orders');
  const weights = Array.from({ length: o.months }, (_, i) => 1.015 ** i);
  const total = weights.reduce((a, b) => a + b, 0);
  let assigned = 0;
  const perMonth = weights.map((w, i) => {
    const n = i === o.months - 1 ? o.orderLines - assigned : Math.round((o.orderLines * w) / total);
    assigned += n;
    return n;
  });
  const customerPick = new WeightedIndex(Array.from({ length: o.customers }, (_, c) => 1 + (deriveSeed(o.seed, `weight:${c}`) % 5)));
  const products = categoriesAt(o, 0).filter((r, k, all) => k === 0 || all[k - 1]!.productId !== r.productId);
  const customers = customersAt(o, 0);
  const shipModes = new WeightedIndex(SHIP_MODES.map((s) => s.weight));
  const customerHome = customers.map((_, c) => cityPick(streamFor(o.seed, `home:${c}`)));
  let rowId = 1;
  let orderNo = 100000;
  perMonth.forEach((lines, m) => {
    const start = monthStart(o, m);
    const days = Math.round((monthStart(o, m + 1).getTime() - start.getTime()) / 86_400_000);
    while (lines > 0) {
      const n = Math.min(lines, rng.int(1, 5));
      lines -= n;
      const orderDate = new Date(start.getTime() + rng.int(0, days - 1) * 86_400_000);
      const mode = SHIP_MODES[shipModes.draw(rng)]!;
      const shipDate = new Date(orderDate.getTime() + rng.int(mode.minDays, mode.maxDays) * 86_400_000);
      const c = customerPick.draw(rng);
      const geo = GEOGRAPHY[rng.next() < 0.8 ? customerHome[c]! : cityPick(rng)]!;
      const orderId = `${geo.country === 'United States' ? 'US' : 'CA'}-${orderDate.getUTCFullYear()}-${orderNo++}`;
      for (let k = 0; k < n; k++) {
        const product = products[rng.int(0, products.length - 1)]!;
        const quantity = rng.int(1, 9);
        const price = 2 + ((deriveSeed(o.seed, `price:${product.productId}`) % 50000) / 100);
        const discount = [0, 0, 0, 0.1, 0.2, 0.3][rng.int(0, 5)]!;
        const sales = Math.round(price * quantity * (1 - discount) * 100) / 100;
        const profit = Math.round(sales * (0.35 - discount * 1.5 - rng.next() * 0.1) * 10000) / 10000;
        emit(
          { rowId: rowId++, orderId, orderDate, shipDate, shipMode: mode.name, customerId: customers[c]!.customerId, ...geo, productId: product.productId, sales, quantity, discount, profit },
          m,
        );
      }
    }
  });
}

const ORDER_HEADER = ['Row ID', 'Order ID', 'Order Date', 'Ship Date', 'Ship Mode', 'Customer ID', 'Country', 'City', 'State', 'Postal Code', 'Region', 'Product ID', 'Sales', 'Quantity', 'Discount', 'Profit'];
const CREATOR = 'gudang dataset/generate/superstore.ts';

/** Writes one delivery (three workbooks, the real files' names, sheets and headers) into `dir`. */
export async function writeDelivery(dir: string, d: Delivery): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeXlsx(path.join(dir, WORKBOOKS.orders), 'Sheet1', ORDER_HEADER, d.orders, (l) => [
    l.rowId, l.orderId, l.orderDate, l.shipDate, l.shipMode, l.customerId, l.country, l.city, l.state, l.postalCode, l.region, l.productId, l.sales, l.quantity, l.discount, l.profit,
  ], CREATOR);
  await writeXlsx(path.join(dir, WORKBOOKS.customers), 'Sheet1', ['Customer ID', 'Customer Name', 'Segment'], d.customers, (c) => [c.customerId, c.customerName, c.segment], CREATOR);
  await writeXlsx(path.join(dir, WORKBOOKS.categories), 'Sheet1', ['Product ID', 'Category', 'Sub-Category', 'Product Name'], d.categories, (c) => [
    c.productId, c.category, c.subCategory, c.productName,
  ], CREATOR);
}

/** Writes the deliveries; returns the folders written and their order lines. */
export async function generateSuperstore(opts: SuperstoreOptions = {}): Promise<{ dir: string; orderLines: number }[]> {
  const o = resolve(opts);
  const byMonth: OrderLine[][] = Array.from({ length: o.months }, () => []);
  forEachOrderLine(o, (line, m) => byMonth[m]!.push(line));
  if (!o.monthly) {
    await writeDelivery(o.out, { orders: byMonth.flat(), customers: customersAt(o, o.months - 1), categories: categoriesAt(o, o.months - 1) });
    return [{ dir: o.out, orderLines: o.orderLines }];
  }
  const written: { dir: string; orderLines: number }[] = [];
  for (let m = 0; m < o.months; m++) {
    const dir = path.join(o.out, monthLabel(monthStart(o, m)));
    await writeDelivery(dir, { orders: byMonth[m]!, customers: customersAt(o, m), categories: categoriesAt(o, m) });
    written.push({ dir, orderLines: byMonth[m]!.length });
  }
  return written;
}

const USAGE = `usage: npm run generate -- --dataset superstore [options]

  --order-lines N        order lines in all (default ${SUPERSTORE_DEFAULTS.orderLines})
  --customers M          customers (default ${SUPERSTORE_DEFAULTS.customers})
  --products P           product ids (default ${SUPERSTORE_DEFAULTS.products})
  --out DIR              output folder (default ${SUPERSTORE_DEFAULTS.out})
  --seed S               unsigned 32-bit seed (default ${SUPERSTORE_DEFAULTS.seed})
  --start-month YYYY-MM  first month of orders (default ${SUPERSTORE_DEFAULTS.startMonth})
  --months K             months the orders span (default ${SUPERSTORE_DEFAULTS.months})
  --monthly              one folder per month, DIR/<YYYY-MM>/, instead of one delivery
`;

const FLAGS = {
  '--order-lines': ['orderLines', 'int'],
  '--customers': ['customers', 'int'],
  '--products': ['products', 'int'],
  '--seed': ['seed', 'int'],
  '--months': ['months', 'int'],
  '--out': ['out', 'text'],
  '--start-month': ['startMonth', 'text'],
  '--monthly': ['monthly', 'bool'],
} as const;

export function parseSuperstoreArgs(argv: readonly string[]): SuperstoreOptions | 'help' {
  return parseFlags<SuperstoreOptions>(argv, FLAGS);
}

export function main(argv: readonly string[]): Promise<number> {
  return generatorMain(argv, USAGE, parseSuperstoreArgs, async (opts) =>
    (await generateSuperstore(opts)).map((w) => `${String(w.orderLines).padStart(10)} order lines  ${w.dir}`),
  );
}
