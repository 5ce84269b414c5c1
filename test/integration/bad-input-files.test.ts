import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { z } from 'zod';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { loadSource } from '../../src/ingest/load';
import type { LoadOptions } from '../../src/ingest/load';
import type { ActiveRelation } from '../../src/ingest/relations';
import { col, defineSource } from '../../src/sources/columns';
import type { SourceSpec } from '../../src/sources/types';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// Issue 9, "a file is read whole or refused" and "an empty delivery is refused": each case is a file built here,
// loaded with the real engine into a real database. docs/bad-input.md lists them with these test names.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const source = (name: string): SourceSpec => djangoApparel.sources.find((s) => s.name === name)!;

let db: TestDatabase;
let dir: string;
let n = 0;

before(async () => {
  db = await createTestDatabase('gudang_badfiles');
  await migrate(db.pool);
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-badfiles-'));
});

after(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function fixture(files: Record<string, string | Buffer | Uint8Array>): Promise<string> {
  const d = path.join(dir, `case-${++n}`);
  await mkdir(d, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(d, name), content);
  return d;
}

const load = (spec: SourceSpec, d: string, opts: LoadOptions = {}) => loadSource(db.pool, spec, d, { runId: `files-${n}`, ...opts });

async function fails(spec: SourceSpec, d: string, type: string, message: RegExp, opts: LoadOptions = {}): Promise<void> {
  await assert.rejects(load(spec, d, opts), (err: unknown) => {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.equal(err.type, type);
    assert.match(err.message, message);
    return true;
  });
}

async function staged(table: string): Promise<number> {
  return (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM staging.${table}`)).rows[0]!.n;
}

const cities = () =>
  defineSource({ ...source('cities'), columns: source('cities').columns, sheet: undefined, primaryKey: ['city_id'] });

async function workbook(build: (wb: ExcelJS.Workbook) => void): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  build(wb);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

function citySheet(wb: ExcelJS.Workbook, name: string, rows: number, first = 1): ExcelJS.Worksheet {
  const ws = wb.addWorksheet(name);
  ws.addRow(['city_id', 'city_names', 'province_id']);
  for (let i = 0; i < rows; i++) ws.addRow([first + i, `City ${first + i}`, 1]);
  return ws;
}

void describe('Excel: the declared sheet, whole, or refused', () => {
  void test('a hidden worksheet placed first is never read instead of the data sheet', async () => {
    const book = await workbook((wb) => {
      citySheet(wb, 'Old', 3, 900).state = 'hidden';
      citySheet(wb, 'Worksheet', 5);
    });
    const r = await load(cities(), await fixture({ 'cities.xlsx': book }));
    assert.deepEqual([r.rowsRead, r.rowsLoaded], [5, 5]);
    const ids = await db.pool.query<{ id: number }>(`SELECT min(city_id)::int AS id FROM staging.cities`);
    assert.equal(ids.rows[0]!.id, 1, 'the visible sheet was read');
    // declared but hidden: refused
    const hidden = defineSource({ ...cities(), sheet: 'Old' });
    await fails(hidden, await fixture({ 'cities.xlsx': book }), 'SourceFormatError', /^cities\.xlsx: sheet "Old" is hidden/);
  });

  void test('a declared sheet that is missing, or matches two sheets, is refused; so is a guess among visible sheets', async () => {
    const book = await workbook((wb) => {
      citySheet(wb, 'Worksheet', 2);
      citySheet(wb, 'Notes', 1);
    });
    await fails(cities(), await fixture({ 'cities.xlsx': book }), 'SourceFormatError', /has 2 visible sheets \("Worksheet", "Notes"\): ambiguous/);
    await fails(defineSource({ ...cities(), sheet: 'Data' }), await fixture({ 'cities.xlsx': book }), 'SourceFormatError', /has no sheet named "Data"; its sheets are "Worksheet", "Notes"/);
    // two sheets whose names differ only in case (Excel itself forbids it; a generated file can have it)
    const zip = await JSZip.loadAsync(book);
    const xml = (await zip.file('xl/workbook.xml')!.async('string')).replace('name="Notes"', 'name="WORKSHEET"');
    zip.file('xl/workbook.xml', xml);
    const twice = await zip.generateAsync({ type: 'nodebuffer' });
    await fails(defineSource({ ...cities(), sheet: 'Worksheet' }), await fixture({ 'cities.xlsx': twice }), 'SourceFormatError', /has 2 sheets named "Worksheet" .*ambiguous/);
  });

  void test('a worksheet that ends early inside an otherwise valid workbook fails the load, naming the sheet and the last row', async () => {
    const book = await workbook((wb) => void citySheet(wb, 'Worksheet', 200));
    const zip = await JSZip.loadAsync(book);
    const sheet = await zip.file('xl/worksheets/sheet1.xml')!.async('string');
    const cut = sheet.indexOf('<row r="101"');
    assert.ok(cut > 0);
    zip.file('xl/worksheets/sheet1.xml', sheet.slice(0, cut)); // rows 1-100 intact, then nothing
    const truncated = await zip.generateAsync({ type: 'nodebuffer' });
    await fails(cities(), await fixture({ 'cities.xlsx': truncated }), 'SourceFormatError', /^cities\.xlsx: sheet "Worksheet" ends early: its XML stops after sheet row 100/);
    // malformed XML inside the sheet
    zip.file('xl/worksheets/sheet1.xml', sheet.replace('<row r="50"', '<row r="50" <<'));
    const malformed = await zip.generateAsync({ type: 'nodebuffer' });
    await fails(cities(), await fixture({ 'cities.xlsx': malformed }), 'SourceFormatError', /^cities\.xlsx: is not a readable \.xlsx workbook/);
    // and a workbook cut short as a file
    await fails(cities(), await fixture({ 'cities.xlsx': book.subarray(0, Math.floor(book.length * 0.6)) }), 'SourceFormatError', /^cities\.xlsx: /);
  });
});

void describe('an empty delivery is refused, naming the file, unless the run allows it', () => {
  void test('header-only CSV, header-only worksheet, Parquet without rows, every row rejected', async () => {
    const orders = source('orders');
    const header = 'order_id,order_date,customer_id,province_id,city_id\n';
    await load(orders, await fixture({ 'orders.csv': `${header}1,2022-01-01,1,1,1\n` }));
    await fails(orders, await fixture({ 'orders.csv': header }), 'SourceFormatError', /^orders\.csv: has no data rows \(an empty or header-only delivery\): loading it would empty staging\.orders .*--allow-empty/);
    assert.equal(await staged('orders'), 1, 'staging keeps the previous delivery');
    await fails(orders, await fixture({ 'orders.csv': `${header}x,2022-01-01,1,1,1\n` }), 'SourceFormatError', /^orders\.csv: has no valid rows \(all 1 row\(s\) rejected\)/, { rejectBudget: '1' });
    const book = await workbook((wb) => void citySheet(wb, 'Worksheet', 0));
    await fails(cities(), await fixture({ 'cities.xlsx': book }), 'SourceFormatError', /^cities\.xlsx: has no data rows/);
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'customer_id', type: 'INT64', data: [] },
        { name: 'first_name', type: 'STRING', data: [] },
        { name: 'last_name', type: 'STRING', data: [] },
        { name: 'gender', type: 'STRING', data: [] },
      ],
    });
    await fails(source('customers'), await fixture({ 'customers.parquet': new Uint8Array(parquet) }), 'SourceFormatError', /^customers\.parquet: has no data rows/);
    // --allow-empty: the empty delivery replaces staging
    const r = await load(orders, await fixture({ 'orders.csv': header }), { allowEmpty: true });
    assert.deepEqual([r.rowsRead, r.rowsLoaded], [0, 0]);
    assert.equal(await staged('orders'), 0);
  });
});

void describe('values are stored as written or refused', () => {
  void test('integers, exact decimals, timestamps and early years through a CSV load', async () => {
    const spec = defineSource({
      name: 'exact_values',
      file: 'values.csv',
      format: 'csv',
      columns: { id: col.int(), big: col.optional(col.int()), amount: col.optional(col.numeric()), at: col.optional(col.timestamp()), day: col.optional(col.date()) },
      primaryKey: ['id'],
    });
    const lines = [
      'id,big,amount,at,day',
      '1,9007199254740993,12345678901234567890.123456789,0999-12-31 23:59:59.999,0050-03-04', // exact beyond 2^53; year 999 and 50 as written
      '2,9223372036854775807,40000.50,2022-01-01 10:00:00.120000,0001-01-01',
      '3,0x10,1,,', // not plain decimal
      '4,1e3,1,,',
      '5,1.0,1,,',
      '6,9223372036854775808,1,,', // beyond bigint
      '7,,1,2022-01-01 24:00,', // out-of-range fields are refused, never rolled over
      '8,,1,2022-01-01 10:60,',
      '9,,1,2022-01-01 10:00:60,',
      '10,,1,2022-01-01 10:00:00.1234,', // sub-millisecond digits would be rounded
      '11,,1,0000-01-01,',
      '12,,NaN,,',
    ];
    const r = await load(spec, await fixture({ 'values.csv': `${lines.join('\n')}\n` }), { rejectBudget: '100%' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [12, 2, 10]);
    const rows = await db.pool.query(
      `SELECT id::int, big::text, amount::text, to_char(at, 'YYYY-MM-DD HH24:MI:SS.US') AS at, to_char(day, 'YYYY-MM-DD') AS day FROM staging.exact_values ORDER BY id`,
    );
    assert.deepEqual(rows.rows, [
      { id: 1, big: '9007199254740993', amount: '12345678901234567890.123456789', at: '0999-12-31 23:59:59.999000', day: '0050-03-04' },
      { id: 2, big: '9223372036854775807', amount: '40000.50', at: '2022-01-01 10:00:00.120000', day: '0001-01-01' },
    ]);
    const rejects = await db.pool.query<{ row_number: number; errors: string[] }>(
      `SELECT row_number::int, errors FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`,
      [r.runId],
    );
    assert.deepEqual(
      rejects.rows.map((x) => [x.row_number, x.errors[0]!.replace(/ \(got .*$/, '')]),
      [
        [3, 'column big: expected an integer'],
        [4, 'column big: expected an integer'],
        [5, 'column big: expected an integer'],
        [6, 'column big: integer out of range (bigint holds -9223372036854775808 to 9223372036854775807)'],
        [7, 'column at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])'],
        [8, 'column at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])'],
        [9, 'column at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])'],
        [10, 'column at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])'],
        [11, 'column at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])'],
        [12, 'column amount: expected a number'],
      ],
    );
  });

  void test('the seed files still load unchanged', async () => {
    const r = await load(source('order_details'), await fixture({ 'order_details.csv': await readFile(path.join(SEED, 'order_details.csv')) }));
    assert.equal(r.rowsRejected, 0);
    const sum = await db.pool.query<{ s: string }>(`SELECT sum(unit_sales)::text AS s FROM staging.order_details`);
    const expected = (await readFile(path.join(SEED, 'order_details.csv'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .reduce((acc, line) => acc + BigInt(line.split(',')[5]!.trim().replace(/\.0+$/, '')), 0n);
    assert.equal(sum.rows[0]!.s.replace(/\.0+$/, ''), expected.toString());
  });
});

void describe('JSON and Parquet: read whole or refused; one bad value is one rejected row', () => {
  void test('a JSON number of more than 15 significant digits is stored as written, never rounded through a JavaScript number', async () => {
    const spec = defineSource({
      name: 'exact_json',
      file: 'values.json',
      format: 'json',
      columns: { id: col.int(), big: col.optional(col.int()), amount: col.optional(col.numeric()), note: col.optional(col.text()) },
      primaryKey: ['id'],
    });
    // written by hand: JSON.stringify could not even produce these numbers
    const text = [
      '[{"id": 1, "big": 9007199254740993, "amount": 12345678901234567890.123456789, "note": 1234567890123456789},',
      ' {"id": 2, "big": -9223372036854775807, "amount": 0.12345678901234567, "note": "12345678901234567"},',
      ' {"id": 3, "big": 42, "amount": 40000.5, "note": "short"},',
      ' {"id": 4, "big": 9223372036854775808, "amount": 1, "note": null}]',
    ].join('\n');
    const r = await load(spec, await fixture({ 'values.json': text }), { rejectBudget: '1' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [4, 3, 1]);
    const rows = await db.pool.query(`SELECT id::int, big::text, amount::text, note FROM staging.exact_json ORDER BY id`);
    assert.deepEqual(rows.rows, [
      { id: 1, big: '9007199254740993', amount: '12345678901234567890.123456789', note: '1234567890123456789' },
      { id: 2, big: '-9223372036854775807', amount: '0.12345678901234567', note: '12345678901234567' },
      { id: 3, big: '42', amount: '40000.5', note: 'short' },
    ]);
    const rejects = await db.pool.query<{ row_number: number; errors: string[] }>(`SELECT row_number::int, errors FROM ops.rejected_rows WHERE run_id = $1`, [r.runId]);
    assert.deepEqual(
      rejects.rows.map((x) => [x.row_number, x.errors[0]!.replace(/ \(got .*$/, '')]),
      [[4, 'column big: integer out of range (bigint holds -9223372036854775808 to 9223372036854775807)']],
    );
  });

  const products = source('products');
  const record = (id: number, name = 'A') => ({ product_id: id, product_name: name, size: 'M', price: 10, product_category_id: 1 });

  void test('a Parquet DECIMAL is stored as its exact decimal, or refused where a floating-point number cannot hold it', async () => {
    const spec = defineSource({
      name: 'exact_parquet',
      file: 'values.parquet',
      format: 'parquet',
      columns: { id: col.int(), amount: col.optional(col.numeric()) },
      primaryKey: ['id'],
    });
    // DECIMAL(18,1) stored as INT64 unscaled values; hyparquet decodes 3 as 0.30000000000000004
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: [1, 2, 3, 4, 5] },
        { name: 'amount', data: [3n, 12345n, -7n, 0n, 9007199254740993n] },
      ],
      schema: [
        { name: 'root', num_children: 2 },
        { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'amount', type: 'INT64', converted_type: 'DECIMAL', scale: 1, precision: 18, repetition_type: 'OPTIONAL' },
      ],
    });
    const r = await load(spec, await fixture({ 'values.parquet': new Uint8Array(parquet) }), { rejectBudget: '1' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [5, 4, 1]);
    const rows = await db.pool.query(`SELECT id::int, amount::text FROM staging.exact_parquet ORDER BY id`);
    assert.deepEqual(rows.rows, [
      { id: 1, amount: '0.3' },
      { id: 2, amount: '1234.5' },
      { id: 3, amount: '-0.7' },
      { id: 4, amount: '0.0' },
    ]);
    const rejects = await db.pool.query<{ row_number: number; errors: string[] }>(`SELECT row_number::int, errors FROM ops.rejected_rows WHERE run_id = $1`, [r.runId]);
    assert.deepEqual(
      rejects.rows.map((x) => [x.row_number, x.errors[0]!.replace(/ \(got .*$/, '')]),
      [[5, 'column amount: a DECIMAL with more than 15 digits, decoded through a floating-point number: its exact value is lost (store it as text)']],
    );
  });

  void test('a repeated key fails the load naming the file, the key and its position', async () => {
    const text = `[${JSON.stringify(record(1))},\n{"product_id": 2, "product_name": "B", "size": "M", "price": 1, "price": 2, "product_category_id": 1}]`;
    await fails(products, await fixture({ 'products.json': text }), 'SourceFormatError', /^products\.json: has the key "price" twice in one object \(only its last value would be kept\) \(line 2 column \d+\)$/);
  });

  void test('nesting deeper than the limit: one clear error, no stack overflow, no retry', async () => {
    const deep = `[{"product_id": 1, "product_name": ${'['.repeat(200_000)}${']'.repeat(200_000)}}]`;
    await fails(products, await fixture({ 'products.json': deep }), 'SourceFormatError', /^products\.json: is nested more than 64 levels deep: not a table of records \(line 1 column \d+\)$/);
  });

  void test('a NUL character in a JSON or Parquet text value rejects that row only, with its row number', async () => {
    const rows = [record(1), record(2, 'bad\u0000name'), record(3)];
    const r = await load(products, await fixture({ 'products.json': JSON.stringify(rows) }), { rejectBudget: '1' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [3, 2, 1]);
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'customer_id', type: 'INT64', data: [1n, 2n, 3n] },
        { name: 'first_name', type: 'STRING', data: ['Ann', 'B\u0000o', 'Cy'] },
        { name: 'last_name', type: 'STRING', data: ['X', 'Y', 'Z'] },
        { name: 'gender', type: 'STRING', data: ['F', 'M', 'F'] },
      ],
    });
    const p = await load(source('customers'), await fixture({ 'customers.parquet': new Uint8Array(parquet) }), { rejectBudget: '1' });
    assert.deepEqual([p.rowsRead, p.rowsLoaded, p.rowsRejected], [3, 2, 1]);
    const rejects = await db.pool.query<{ source: string; row_number: number; errors: string[] }>(
      `SELECT source, row_number::int, errors FROM ops.rejected_rows WHERE run_id IN ($1, $2) ORDER BY source`,
      [r.runId, p.runId],
    );
    assert.deepEqual(rejects.rows, [
      { source: 'customers', row_number: 2, errors: ['column first_name: contains a NUL character (binary data?) (got "B\\u0000o")'] },
      { source: 'products', row_number: 2, errors: ['column product_name: contains a NUL character (binary data?) (got "bad\\u0000name")'] },
    ]);
  });
});

void describe('one bad value is one rejected row: bytes that are not UTF-8, values PostgreSQL refuses', () => {
  const products = source('products');
  const record = (id: number, name = 'A') => ({ product_id: id, product_name: name, size: 'M', price: 10, product_category_id: 1 });
  const latin1 = (text: string) => Buffer.from(text, 'latin1');

  void test('bytes that are not UTF-8 inside one JSON or Parquet text value reject that row, naming the byte', async () => {
    // "Caf\xE9" as Latin-1 in the second record of a JSON file
    const json = latin1(`[${JSON.stringify(record(1))},\n${JSON.stringify(record(2, 'Caf\u00e9'))},\n${JSON.stringify(record(3))}]`);
    const r = await load(products, await fixture({ 'products.json': json }), { rejectBudget: '1' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [3, 2, 1]);
    const bytes = (s: string) => new TextEncoder().encode(s);
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'customer_id', type: 'INT64', data: [1n, 2n, 3n] },
        { name: 'first_name', type: 'BYTE_ARRAY', data: [bytes('Ann'), Uint8Array.from([0x4a, 0x6f, 0xe9]), bytes('Cy')] },
        { name: 'last_name', type: 'STRING', data: ['X', 'Y', 'Z'] },
        { name: 'gender', type: 'STRING', data: ['F', 'M', 'F'] },
      ],
    });
    const p = await load(source('customers'), await fixture({ 'customers.parquet': new Uint8Array(parquet) }), { rejectBudget: '1' });
    assert.deepEqual([p.rowsRead, p.rowsLoaded, p.rowsRejected], [3, 2, 1]);
    const rejects = await db.pool.query<{ source: string; row_number: number; errors: string[]; raw: Record<string, unknown> }>(
      `SELECT source, row_number::int, errors, raw FROM ops.rejected_rows WHERE run_id IN ($1, $2) ORDER BY source`,
      [r.runId, p.runId],
    );
    const why = 'not valid UTF-8 text: byte 0xE9 (is the file in another encoding, e.g. Windows-1252 or Latin-1? save it as UTF-8)';
    assert.deepEqual(
      rejects.rows.map((x) => [x.source, x.row_number, x.errors[0]!.replace(/ \(got .*\)$/, '')]),
      [
        ['customers', 2, `column first_name: ${why}`],
        ['products', 2, `column product_name: ${why}`],
      ],
    );
    // the rejected row as read: the bad byte shows as U+FFFD
    assert.equal(rejects.rows[1]!.raw.product_name, 'Caf\ufffd');
    const names = await db.pool.query(`SELECT string_agg(first_name, ',' ORDER BY customer_id) AS s FROM staging.customers`);
    assert.equal(names.rows[0].s, 'Ann,Cy');
  });

  void test('bytes that are not UTF-8 outside any JSON string: the file is malformed there', async () => {
    await fails(products, await fixture({ 'products.json': latin1(`[${JSON.stringify(record(1))},\n\u00e9]`) }), 'SourceFormatError', /^products\.json: .*line 2 column 1/);
  });

  // a column whose validation lets through what its PostgreSQL type refuses: only the database can say no
  const smallints = defineSource({
    name: 'smallints',
    file: 'smallints.json',
    format: 'json',
    columns: { id: col.int(), n: { schema: z.string(), pgType: 'smallint', nullable: false } },
    primaryKey: ['id'],
  });

  void test('a value PostgreSQL refuses in a JSON file rejects its row (file row, column), the rest of the batch loads', async () => {
    const rows = [{ id: 1, n: '5' }, { id: 2, n: '70000' }, { id: 3, n: '7' }, { id: 4, n: '99999' }];
    const r = await load(smallints, await fixture({ 'smallints.json': JSON.stringify(rows) }), { rejectBudget: '2' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [4, 2, 2]);
    const rejects = await db.pool.query<{ row_number: number; errors: string[] }>(
      `SELECT row_number::int, errors FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`,
      [r.runId],
    );
    assert.deepEqual(rejects.rows, [
      { row_number: 2, errors: ['column n: PostgreSQL refused the value: value "70000" is out of range for type smallint'] },
      { row_number: 4, errors: ['column n: PostgreSQL refused the value: value "99999" is out of range for type smallint'] },
    ]);
    const staged = await db.pool.query(`SELECT string_agg(n::text, ',' ORDER BY id) AS s FROM staging.smallints`);
    assert.equal(staged.rows[0].s, '5,7');
  });

  const smallintsCsv = defineSource({
    name: 'smallints',
    file: 'smallints.csv',
    format: 'csv',
    columns: { id: col.int(), note: col.text(), n: { schema: z.string(), pgType: 'smallint', nullable: false } },
    primaryKey: ['id'],
  });

  void test('a value PostgreSQL refuses in a CSV file rejects its row (file row and line, column), the rest loads', async () => {
    const spec = smallintsCsv;
    // line 1 header; row 1 line 2; row 2 lines 3-4 (a quoted line break); row 3 line 5 (refused); row 4 lines 6-7
    // (refused, inside a record over two lines); row 5 line 8 (a zod-path row: space-padded id); row 6 line 9
    const text = 'id,note,n\n1,x,5\n2,"a\nb",6\n3,y,70000\n4,"c\nd",80000\n 5,z,7\n6,w,8\n';
    const r = await load(spec, await fixture({ 'smallints.csv': text }), { rejectBudget: '2' });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [6, 4, 2]);
    const rejects = await db.pool.query<{ row_number: number; line_number: number; errors: string[]; raw: Record<string, unknown> }>(
      `SELECT row_number::int, line_number::int, errors, raw FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`,
      [r.runId],
    );
    assert.deepEqual(
      rejects.rows.map((x) => [x.row_number, x.line_number, x.errors, x.raw.n]),
      [
        [3, 5, ['column n: PostgreSQL refused the value: value "70000" is out of range for type smallint'], '70000'],
        [4, 6, ['column n: PostgreSQL refused the value: value "80000" is out of range for type smallint'], '80000'],
      ],
    );
    const kept = await db.pool.query(`SELECT string_agg(id || ':' || note || ':' || n, ',' ORDER BY id) AS s FROM staging.smallints`);
    assert.equal(kept.rows[0].s, '1:x:5,2:a\nb:6,5:z:7,6:w:8');
    // over the budget (none given): the load fails, naming the file and the row
    await fails(spec, await fixture({ 'smallints.csv': text }), 'SourceRowInvalid', /smallints\.csv[\s\S]*row 3[\s\S]*70000/);
  });

  void test('CSV: a refused value in the middle of many batches and chunks rejects just its row', async () => {
    const spec = smallintsCsv;
    const rows = Array.from({ length: 3000 }, (_, k) => `${k + 1},note ${k + 1},${k === 1234 || k === 2500 ? 99999 : k % 1000}`);
    const r = await load(spec, await fixture({ 'smallints.csv': `id,note,n\n${rows.join('\n')}\n` }), { rejectBudget: '2', chunkBytes: 16 * 1024, batchBytes: 4096 });
    assert.ok(r.chunks! > 2, `${r.chunks} chunk(s)`);
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [3000, 2998, 2]);
    const { rows: ids } = await db.pool.query<{ id: string }>(`SELECT raw->>'id' AS id FROM ops.rejected_rows WHERE run_id = $1 ORDER BY 1`, [r.runId]);
    assert.deepEqual(ids.map((x) => x.id), ['1235', '2501']);
    assert.equal(await staged('smallints'), 2998);
  });
});

void describe('row numbers and line numbers', () => {
  const spec = defineSource({
    name: 'notes',
    file: 'notes.csv',
    format: 'csv',
    columns: { id: col.int(), note: col.text() },
    primaryKey: ['id'],
  });

  async function rowsAndLines(runId: string) {
    const { rows } = await db.pool.query<{ row_number: number; line_number: number; id: unknown }>(
      `SELECT row_number::int, line_number::int, raw->>'id' AS id FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`,
      [runId],
    );
    return rows.map((r) => [r.row_number, r.line_number, r.id]);
  }

  // line 1 header, 2 blank, 3 row 1, 4-6 row 2 (a quoted note over three lines), 7 blank, 8 row 3 (bad), 9 row 4,
  // 10-11 row 5 (two lines, bad id), 12 row 6 (bad)
  const text = 'id,note\n\n1,a\n2,"x\ny\nz"\n\nthree,b\n4,c\nfive,"p\nq"\nsix,d\n';

  for (const chunkBytes of [1 << 20, 12]) {
    void test(`CSV: each rejected row has its row and its line (blank lines, quoted line breaks${chunkBytes < 100 ? ', many chunks' : ''})`, async () => {
      const r = await load(spec, await fixture({ 'notes.csv': text }), { rejectBudget: '3', chunkBytes });
      if (chunkBytes < 100) assert.ok(r.chunks! > 2, `${r.chunks} chunk(s)`);
      assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [6, 3, 3]);
      assert.deepEqual(await rowsAndLines(r.runId), [
        [3, 8, 'three'],
        [5, 10, 'five'],
        [6, 12, 'six'],
      ]);
    });
  }

  // Rows moved at publish have their row and line too: a duplicate key, and the children of a rejected parent.
  // notes: line 1 header, 2 row 1, 3 blank, 4-5 row 2 (a quoted line break), 6 row 3 (blank note: rejected, id 3).
  // note_tags: line 1 header, 2 row 1, 3-4 row 2 (of note 3, quoted line break), 5 blank, 6 row 3 (tag 1 again),
  // 7 row 4 (of note 3), 8 row 5.
  const tags = defineSource({
    name: 'note_tags',
    file: 'note_tags.csv',
    format: 'csv',
    columns: { tag_id: col.int(), note_id: col.int(), tag: col.text() },
    primaryKey: ['tag_id'],
  });
  const tagsOfNotes: ActiveRelation[] = [
    { relation: { child: 'note_tags', columns: ['note_id'], parent: 'notes', parentColumns: ['id'], onParentRejected: 'quarantine' }, parent: spec },
  ];
  for (const chunkBytes of [1 << 20, 12]) {
    void test(`CSV: a duplicate key and a quarantined child, moved at publish, have their row and line${chunkBytes < 100 ? ' (many chunks)' : ''}`, async () => {
      const parent = await load(spec, await fixture({ 'notes.csv': 'id,note\n1,a\n\n2,"x\ny"\n3,\n' }), { rejectBudget: '1', chunkBytes });
      assert.deepEqual(await rowsAndLines(parent.runId), [[3, 6, '3']]);
      const child = await load(tags, await fixture({ 'note_tags.csv': 'tag_id,note_id,tag\n1,1,p\n2,3,"q\nr"\n\n1,2,s\n4,3,t\n5,2,u\n' }), {
        runId: parent.runId,
        rejectBudget: '1',
        chunkBytes,
        relations: tagsOfNotes,
      });
      if (chunkBytes < 100) assert.ok(child.chunks! > 2, `${child.chunks} chunk(s)`);
      assert.deepEqual([child.rowsRead, child.rowsLoaded, child.rowsRejected, child.rowsQuarantined], [5, 2, 1, 2]);
      const { rows } = await db.pool.query<{ row_number: number; line_number: number; errors: string[] }>(
        `SELECT row_number::int, line_number::int, errors FROM ops.rejected_rows WHERE run_id = $1 AND source = 'note_tags' ORDER BY row_number`,
        [parent.runId],
      );
      const quarantined = ['its parent row was rejected (notes notes.csv row 3 line 6, id=3): quarantined with it'];
      assert.deepEqual(rows, [
        { row_number: 2, line_number: 3, errors: quarantined },
        { row_number: 3, line_number: 6, errors: ['duplicate primary key tag_id=1, first seen at row 1 (line 2)'] },
        { row_number: 4, line_number: 7, errors: quarantined },
      ]);
    });
  }

  void test('JSON: each rejected record has its row and the line where it starts', async () => {
    const products = source('products');
    const rec = (id: unknown) => JSON.stringify({ product_id: id, product_name: 'A', size: 'M', price: 10, product_category_id: 1 });
    const json = `[\n${rec(1)},\n\n${rec('x')},\n${rec(3)}, ${rec('y')}\n]`;
    const r = await load(products, await fixture({ 'products.json': json }), { rejectBudget: '2' });
    const { rows } = await db.pool.query(`SELECT row_number::int, line_number::int FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`, [r.runId]);
    assert.deepEqual(rows, [
      { row_number: 2, line_number: 4 },
      { row_number: 4, line_number: 5 },
    ]);
  });

  void test('over the budget, the message names the first rejected row and its line', async () => {
    await fails(spec, await fixture({ 'notes.csv': text }), 'SourceRowInvalid', /first rejected row\(s\): 3; row 3 \(line 8\): column id: expected an integer \(got "three"\)/);
  });
});
