// Django Apparel's dimension tables (sizes fixed by design) and the writers of its JSON and Parquet files.
import { writeFile } from 'node:fs/promises';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { streamFor } from './common';
import type { Rng } from './common';

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

export const CATEGORIES: ProductCategory[] = [
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
export function productPopularity(name: string, size: string): number {
  const garment = name.split(' ')[0];
  const byGarment: Record<string, number> = { 'T-Shirt': 1.5, Polo: 0.9, Blouse: 0.8, Sweater: 0.9, Hoodie: 1.0, Jeans: 0.85 };
  const bySize: Record<string, number> = { M: 1.0, L: 1.1, XL: 0.75 };
  return (byGarment[garment ?? ''] ?? 1) * (bySize[size] ?? 1);
}

export function buildProducts(): Product[] {
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

export function buildProvinces(): Province[] {
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

export function buildCities(seed: number): City[] {
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

export function buildCustomers(seed: number): Customer[] {
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

export async function writeCustomersParquet(file: string, customers: readonly Customer[]): Promise<void> {
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
