/**
 * Deterministic generator of a synthetic Django Apparel dataset: the 7 source files the
 * pipeline ingests (see src/datasets/django-apparel.ts), in the same formats and shapes as the
 * real seed files, with invented content.
 *
 *   tsx dataset/generate.ts [--order-lines N] [--out DIR] [--seed S]
 *                           [--start-month YYYY-MM] [--months M] [--formats csv,excel,json,parquet]
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
import { createWriteStream, realpathSync, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';
import { parquetWriteBuffer } from 'hyparquet-writer';

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

/** Fixed timestamp stamped into the xlsx metadata and zip entries so the bytes do not depend on the clock. */
const FIXED_DATE = new Date(Date.UTC(2024, 0, 1, 0, 0, 0));

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/** mulberry32: 32-bit state, fast, good enough for synthetic data. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** FNV-1a over the label, mixed with the seed through a murmur3 finaliser. */
function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function streamFor(seed: number, label: string): Rng {
  return new Rng(deriveSeed(seed, label));
}

/** Draws an index with probability proportional to its weight (cumulative table, binary search). */
class WeightedIndex {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(weights: readonly number[]) {
    if (weights.length === 0) throw new Error('WeightedIndex needs at least one weight');
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    weights.forEach((w, i) => {
      if (!(w >= 0)) throw new Error(`invalid weight ${w}`);
      sum += w;
      this.cumulative[i] = sum;
    });
    if (sum <= 0) throw new Error('weights must not all be zero');
    this.total = sum;
  }

  draw(rng: Rng): number {
    const x = rng.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

// ---------------------------------------------------------------------------------------------
// Dimension tables (sizes fixed by design)
// ---------------------------------------------------------------------------------------------

export interface ProductCategory {
  product_category_id: number;
  product_category_name: string;
}
export interface Product {
  product_id: number;
  product_name: string;
  size: string;
  price: number;
  product_category_id: number;
}
export interface Customer {
  customer_id: number;
  first_name: string;
  last_name: string | null;
  gender: string | null;
}
export interface Province {
  province_id: number;
  province_names: string;
}
export interface City {
  city_id: number;
  city_names: string;
  province_id: number;
}

const CATEGORIES: ProductCategory[] = [
  { product_category_id: 1, product_category_name: 'Menswear' },
  { product_category_id: 2, product_category_name: 'Womenswear' },
];

const SIZES = ['M', 'L', 'XL'] as const;

/**
 * The catalogue: per category, garment lines with a base price (size M) and the step added per
 * size up. Several names appear in both categories at different prices, and every name comes in
 * three sizes, so a product name alone does not identify a product.
 */
const CATALOGUE: { category: number; name: string; base: number; step: number }[] = [
  { category: 1, name: 'T-Shirt Black', base: 45_000, step: 5_000 },
  { category: 1, name: 'T-Shirt White', base: 45_000, step: 5_000 },
  { category: 1, name: 'Polo Shirt Navy', base: 95_000, step: 10_000 },
  { category: 1, name: 'Hoodie Black', base: 185_000, step: 10_000 },
  { category: 1, name: 'Hoodie Grey', base: 180_000, step: 10_000 },
  { category: 1, name: 'Jeans Blue', base: 260_000, step: 20_000 },
  { category: 1, name: 'Jeans Black', base: 275_000, step: 20_000 },
  { category: 2, name: 'T-Shirt Black', base: 40_000, step: 5_000 },
  { category: 2, name: 'T-Shirt White', base: 40_000, step: 5_000 },
  { category: 2, name: 'Blouse Cream', base: 110_000, step: 10_000 },
  { category: 2, name: 'Sweater Pink', base: 130_000, step: 10_000 },
  { category: 2, name: 'Hoodie Grey', base: 175_000, step: 10_000 },
  { category: 2, name: 'Jeans Blue', base: 240_000, step: 15_000 },
  { category: 2, name: 'Jeans Black', base: 250_000, step: 15_000 },
];

/** Relative popularity of a garment line in orders (cheap basics sell most). */
function productPopularity(name: string, size: string): number {
  const garment = name.split(' ')[0];
  const byGarment: Record<string, number> = { 'T-Shirt': 1.5, Polo: 0.9, Blouse: 0.8, Sweater: 0.9, Hoodie: 1.0, Jeans: 0.85 };
  const bySize: Record<string, number> = { M: 1.0, L: 1.1, XL: 0.75 };
  return (byGarment[garment ?? ''] ?? 1) * (bySize[size] ?? 1);
}

function buildProducts(): Product[] {
  const rows: Omit<Product, 'product_id'>[] = [];
  for (const line of CATALOGUE) {
    SIZES.forEach((size, i) => {
      rows.push({ product_name: line.name, size, price: line.base + i * line.step, product_category_id: line.category });
    });
  }
  // Like a shop export: grouped by name, then size, categories interleaved.
  rows.sort(
    (a, b) =>
      a.product_name.localeCompare(b.product_name, 'en') ||
      SIZES.indexOf(a.size as (typeof SIZES)[number]) - SIZES.indexOf(b.size as (typeof SIZES)[number]) ||
      a.product_category_id - b.product_category_id,
  );
  return rows.map((r, i) => ({ product_id: i + 1, ...r }));
}

/** Real Indonesian provinces (ids alphabetical) and how many regencies/cities each gets here. */
const PROVINCES: { name: string; cities: number }[] = [
  { name: 'BALI', cities: 9 },
  { name: 'BANTEN', cities: 8 },
  { name: 'DI YOGYAKARTA', cities: 5 },
  { name: 'DKI JAKARTA', cities: 6 },
  { name: 'JAWA BARAT', cities: 27 },
  { name: 'JAWA TENGAH', cities: 30 },
  { name: 'JAWA TIMUR', cities: 33 },
  { name: 'KALIMANTAN TIMUR', cities: 10 },
  { name: 'SULAWESI SELATAN', cities: 24 },
  { name: 'SUMATERA SELATAN', cities: 17 },
  { name: 'SUMATERA UTARA', cities: 31 },
];

function buildProvinces(): Province[] {
  return PROVINCES.map((p, i) => ({ province_id: i + 1, province_names: p.name }));
}

// Syllables for Indonesian-sounding place names; the result is invented, only the sound is borrowed.
const PLACE_HEADS = [
  'BA', 'BE', 'BO', 'CI', 'DA', 'DE', 'DU', 'GA', 'GO', 'GU', 'JA', 'JO', 'KA', 'KE', 'KU', 'LA', 'LU', 'MA',
  'ME', 'MO', 'NA', 'PA', 'PE', 'PU', 'RA', 'RE', 'RO', 'SA', 'SE', 'SI', 'SU', 'SUKA', 'TA', 'TE', 'TU', 'WA', 'WO',
];
const PLACE_MIDS = ['BA', 'DA', 'GA', 'JA', 'KA', 'LA', 'MA', 'NA', 'RA', 'SA', 'TA', 'WA', 'LI', 'RI', 'MU', 'NU', 'RO', 'TO'];
const PLACE_TAILS = [
  'NGAN', 'JAR', 'LANG', 'RANG', 'SARI', 'REJO', 'WANGI', 'KARTA', 'DANG', 'GAN', 'MAS', 'RAN', 'TAN',
  'LI', 'PURA', 'JAYA', 'MULYA', 'GIRI', 'DADI', 'MBANG', 'TENG', 'WONO',
];
const PLACE_PREFIXES = ['TANJUNG', 'BATU', 'SUNGAI', 'BUKIT', 'PULAU', 'TELUK', 'MUARA'];
const PLACE_SUFFIXES = ['BARAT', 'TIMUR', 'UTARA', 'SELATAN', 'TENGAH', 'BARU', 'RAYA'];

function placeName(rng: Rng): string {
  let root = rng.pick(PLACE_HEADS);
  if (rng.next() < 0.45) root += rng.pick(PLACE_MIDS);
  root += rng.pick(PLACE_TAILS);
  const r = rng.next();
  if (r < 0.08) return `${rng.pick(PLACE_PREFIXES)} ${root}`;
  if (r < 0.22) return `${root} ${rng.pick(PLACE_SUFFIXES)}`;
  return root;
}

function buildCities(seed: number): City[] {
  const rng = streamFor(seed, 'cities');
  const used = new Set<string>();
  const out: City[] = [];
  PROVINCES.forEach((province, p) => {
    // About one in five is a KOTA (city), the rest KABUPATEN (regency); at least one of each.
    const kota = Math.max(1, Math.round(province.cities / 5));
    const names: string[] = [];
    for (let i = 0; i < province.cities; i++) {
      let name: string;
      do {
        name = `${i < kota ? 'KOTA' : 'KABUPATEN'} ${placeName(rng)}`;
      } while (used.has(name));
      used.add(name);
      names.push(name);
    }
    names.sort(); // KABUPATEN ... before KOTA ..., alphabetical within a province
    for (const city_names of names) out.push({ city_id: out.length + 1, city_names, province_id: p + 1 });
  });
  return out;
}

// Common English given names and surnames (written for this generator).
const MALE_NAMES = [
  'Aaron', 'Adam', 'Alan', 'Albert', 'Andrew', 'Anthony', 'Arthur', 'Benjamin', 'Bradley', 'Brandon', 'Brian',
  'Carl', 'Charles', 'Christopher', 'Craig', 'Daniel', 'David', 'Dennis', 'Derek', 'Donald', 'Douglas', 'Dylan',
  'Edward', 'Eric', 'Ethan', 'Frank', 'Gary', 'George', 'Gregory', 'Harry', 'Henry', 'Ian', 'Jack', 'Jacob',
  'James', 'Jason', 'Jeffrey', 'Jeremy', 'John', 'Jonathan', 'Joseph', 'Joshua', 'Keith', 'Kevin', 'Lawrence',
  'Louis', 'Luke', 'Mark', 'Martin', 'Matthew', 'Michael', 'Nathan', 'Nicholas', 'Oliver', 'Patrick', 'Paul',
  'Peter', 'Philip', 'Raymond', 'Richard', 'Robert', 'Roger', 'Samuel', 'Scott', 'Simon', 'Stephen', 'Thomas',
  'Timothy', 'Victor', 'Walter', 'William', 'Zachary',
];
const FEMALE_NAMES = [
  'Abigail', 'Alice', 'Alison', 'Amanda', 'Amy', 'Angela', 'Anna', 'Barbara', 'Beth', 'Caroline', 'Catherine',
  'Charlotte', 'Chloe', 'Christine', 'Claire', 'Deborah', 'Diana', 'Donna', 'Eleanor', 'Elizabeth', 'Emily',
  'Emma', 'Fiona', 'Grace', 'Hannah', 'Helen', 'Isabel', 'Jane', 'Janet', 'Jennifer', 'Jessica', 'Joanne',
  'Julia', 'Karen', 'Kate', 'Laura', 'Lauren', 'Linda', 'Lucy', 'Margaret', 'Maria', 'Megan', 'Melissa', 'Molly',
  'Nancy', 'Natalie', 'Nicole', 'Olivia', 'Pamela', 'Rachel', 'Rebecca', 'Rose', 'Ruth', 'Sandra', 'Sarah',
  'Sharon', 'Sophie', 'Stephanie', 'Susan', 'Teresa', 'Victoria', 'Wendy',
];
const SURNAMES = [
  'Adams', 'Allen', 'Bailey', 'Baker', 'Barker', 'Bennett', 'Brooks', 'Burton', 'Butler', 'Campbell', 'Carter',
  'Chapman', 'Clarke', 'Collins', 'Cooper', 'Cox', 'Davies', 'Dixon', 'Edwards', 'Ellis', 'Evans', 'Fisher',
  'Fletcher', 'Foster', 'Fox', 'Gibson', 'Graham', 'Grant', 'Gray', 'Green', 'Griffin', 'Hall', 'Hamilton',
  'Harper', 'Harris', 'Hayes', 'Hill', 'Holmes', 'Hughes', 'Hunt', 'Jackson', 'James', 'Jenkins', 'Kelly',
  'Kennedy', 'King', 'Knight', 'Lane', 'Lawson', 'Lee', 'Lewis', 'Marsh', 'Marshall', 'Mason', 'Matthews',
  'Mills', 'Mitchell', 'Moore', 'Morgan', 'Morris', 'Murphy', 'Murray', 'Nelson', 'Owen', 'Palmer', 'Parker',
  'Pearson', 'Perry', 'Phillips', 'Porter', 'Powell', 'Price', 'Reed', 'Reynolds', 'Richards', 'Roberts',
  'Robinson', 'Rogers', 'Russell', 'Saunders', 'Scott', 'Shaw', 'Simpson', 'Spencer', 'Stevens', 'Stone',
  'Sullivan', 'Taylor', 'Thompson', 'Turner', 'Walker', 'Wallace', 'Ward', 'Watson', 'Webb', 'Wells', 'West',
  'Wheeler', 'White', 'Wilson', 'Wood', 'Wright', 'Young',
];

const CUSTOMER_COUNT = 200;
/** Share of customers without a surname / without a recorded gender (both columns are optional). */
const MISSING_LAST_NAME = 0.01;
const MISSING_GENDER = 0.015;

function buildCustomers(seed: number): Customer[] {
  const rng = streamFor(seed, 'customers');
  const seen = new Set<string>();
  const people: Omit<Customer, 'customer_id'>[] = [];
  while (people.length < CUSTOMER_COUNT) {
    const female = rng.next() < 0.5;
    const first = rng.pick(female ? FEMALE_NAMES : MALE_NAMES);
    const last = rng.pick(SURNAMES);
    const key = `${first} ${last}`;
    if (seen.has(key)) continue;
    seen.add(key);
    people.push({
      first_name: first,
      last_name: rng.next() < MISSING_LAST_NAME ? null : last,
      gender: rng.next() < MISSING_GENDER ? null : female ? 'Female' : 'Male',
    });
  }
  // Like the source system's export: ordered by first name (stable, so surnames stay unordered).
  people.sort((a, b) => (a.first_name < b.first_name ? -1 : a.first_name > b.first_name ? 1 : 0));
  return people.map((p, i) => ({ customer_id: i + 1, ...p }));
}

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

// ---------------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------------

/** Quotes a CSV field only when it needs it (comma, quote, CR or LF). */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLine(values: readonly (string | number | null | undefined)[]): string {
  return values.map(csvField).join(',');
}

/** pandas `DataFrame.to_json(orient="columns")`: `{"col":{"0":v,"1":v,...},...}`. */
export function toPandasColumnsJson<T extends object>(rows: readonly T[], columns: readonly (keyof T & string)[]): string {
  const out: Record<string, Record<string, unknown>> = {};
  for (const c of columns) {
    const col: Record<string, unknown> = {};
    rows.forEach((r, i) => {
      col[String(i)] = r[c] ?? null;
    });
    out[c] = col;
  }
  return JSON.stringify(out);
}

/**
 * Sets every local-header and central-directory modification time of a zip archive to one fixed
 * DOS date. JSZip (used by exceljs) stamps entries with the current time, which would otherwise
 * make every xlsx differ from the last one.
 */
function pinZipTimestamps(buf: Uint8Array, date: Date): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dosTime = (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1);
  const dosDate = ((date.getUTCFullYear() - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate();
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('xlsx: zip end-of-central-directory record not found');
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  for (let n = 0; n < entries; n++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error('xlsx: bad zip central directory entry');
    view.setUint16(p + 12, dosTime, true);
    view.setUint16(p + 14, dosDate, true);
    const local = view.getUint32(p + 42, true);
    if (view.getUint32(local, true) !== 0x04034b50) throw new Error('xlsx: bad zip local header');
    view.setUint16(local + 10, dosTime, true);
    view.setUint16(local + 12, dosDate, true);
    p += 46 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
}

async function writeXlsx<T extends object>(file: string, sheetName: string, rows: readonly T[], columns: readonly (keyof T & string)[]): Promise<void> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'gudang dataset/generate.ts';
  wb.lastModifiedBy = 'gudang dataset/generate.ts';
  wb.created = FIXED_DATE;
  wb.modified = FIXED_DATE;
  const ws = wb.addWorksheet(sheetName);
  ws.addRow([...columns]);
  for (const r of rows) ws.addRow(columns.map((c) => r[c] as unknown));
  const buf = new Uint8Array(await wb.xlsx.writeBuffer());
  pinZipTimestamps(buf, FIXED_DATE);
  await writeFile(file, buf);
}

async function writeCustomersParquet(file: string, customers: readonly Customer[]): Promise<void> {
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: 'customer_id', type: 'INT64', data: customers.map((c) => BigInt(c.customer_id)) },
      { name: 'first_name', type: 'STRING', data: customers.map((c) => c.first_name) },
      { name: 'last_name', type: 'STRING', data: customers.map((c) => c.last_name) },
      { name: 'gender', type: 'STRING', data: customers.map((c) => c.gender) },
    ],
    createdBy: 'gudang dataset/generate.ts',
  });
  await writeFile(file, new Uint8Array(bytes));
}

/** Collects lines and writes them in joined batches, waiting for 'drain' when the stream is full. */
class BatchedLineWriter {
  private lines: string[] = [];
  readonly stream: WriteStream;

  constructor(file: string, header: string) {
    this.stream = createWriteStream(file, { highWaterMark: 1 << 20 });
    this.lines.push(header);
  }

  push(line: string): void {
    this.lines.push(line);
  }

  get pending(): number {
    return this.lines.length;
  }

  /** Writes the batch; resolves once the stream can take more. */
  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('\n') + '\n';
    this.lines = [];
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
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
    await writeXlsx(at('provinces.xlsx'), 'Sheet1', provinces, ['province_id', 'province_names']);
    files.provinces = { path: at('provinces.xlsx'), rows: provinces.length };
    await writeXlsx(at('cities.xlsx'), 'Worksheet', cities, ['city_id', 'city_names', 'province_id']);
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
  -h, --help           this text
`;

export function parseArgs(argv: readonly string[]): GenerateOptions | 'help' {
  const opts: GenerateOptions = {};
  const int = (flag: string, v: string): number => {
    if (!/^\d+$/.test(v)) throw new Error(`${flag} expects a non-negative integer, got "${v}"`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--order-lines':
        opts.orderLines = int(flag, value().replace(/_/g, ''));
        break;
      case '--out':
        opts.out = value();
        break;
      case '--seed':
        opts.seed = int(flag, value());
        break;
      case '--start-month':
        opts.startMonth = value();
        break;
      case '--months':
        opts.months = int(flag, value());
        break;
      case '--formats':
        opts.formats = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean) as Format[];
        break;
      default:
        throw new Error(`unknown argument "${arg}"`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  let opts: GenerateOptions | 'help';
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const started = Date.now();
  const { files } = await generateDataset(opts);
  for (const [name, f] of Object.entries(files)) process.stdout.write(`${name.padEnd(20)} ${String(f.rows).padStart(10)} rows  ${f.path}\n`);
  process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
