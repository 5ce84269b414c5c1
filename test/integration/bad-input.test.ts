import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ExcelJS from 'exceljs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { Worker } from '@temporalio/worker';
import { failureMessage, startPipeline } from '../../src/client';
import { formatSummary } from '../../src/cli/format';
import type { PipelineSummary } from '../../src/contracts';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { loadSource } from '../../src/ingest/load';
import { col, defineSource } from '../../src/sources/columns';
import type { SourceSpec } from '../../src/sources/types';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Every kind of bad input the issue lists, each built here as a fixture, each with what happens to it.
// The README's bad-input table lists these cases; the test names say which row of the table they back.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const source = (name: string): SourceSpec => djangoApparel.sources.find((s) => s.name === name)!;
const orderDetails = source('order_details');
const orders = source('orders');
const HEADER = 'order_detail_id,order_id,product_id,qty,item_price,unit_sales';

let h: PipelineHarness;
let worker: Worker;
let workerDone: Promise<void>;
let dir: string;
let n = 0;

before(async () => {
  h = await startHarness();
  worker = await h.newWorker();
  workerDone = worker.run();
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-bad-'));
});

after(async () => {
  worker?.shutdown();
  await workerDone;
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh directory holding the given files. */
async function fixture(files: Record<string, string | Buffer | Uint8Array>): Promise<string> {
  const d = path.join(dir, `case-${++n}`);
  await mkdir(d, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(d, name), content);
  return d;
}

const load = (spec: SourceSpec, d: string, rejectBudget?: string) => loadSource(h.db.pool, spec, d, { runId: `bad-${n}`, rejectBudget });

/** The load fails with an InputError of `type` whose message matches. */
async function fails(spec: SourceSpec, d: string, type: string, message: RegExp): Promise<void> {
  await assert.rejects(load(spec, d), (err: unknown) => {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.equal(err.type, type);
    assert.match(err.message, message);
    return true;
  });
}

async function rejectedRows(runId: string) {
  const { rows } = await h.db.pool.query<{ row_number: number; line_number: number | null; errors: string[]; raw: Record<string, unknown> }>(
    `SELECT row_number::int, line_number::int, errors, raw FROM ops.rejected_rows WHERE run_id = $1 ORDER BY row_number`,
    [runId],
  );
  return rows;
}

void describe('file-level problems fail the load (non-retryable), naming the file', () => {
  void test('missing file', async () => {
    await fails(orderDetails, await fixture({}), 'SourceFileMissing', /^source file order_details\.csv not found/);
  });

  void test('empty file', async () => {
    await fails(orderDetails, await fixture({ 'order_details.csv': '' }), 'SourceFormatError', /^order_details\.csv: is empty: expected a header row$/);
  });

  void test('missing, extra, renamed and duplicated columns', async () => {
    const row = '\n1,1,1,1,1,1\n';
    await fails(orderDetails, await fixture({ 'order_details.csv': `order_detail_id,order_id,product_id,qty,item_price${row}` }), 'SourceHeaderMismatch', /missing column\(s\) unit_sales$/);
    await fails(orderDetails, await fixture({ 'order_details.csv': `${HEADER},note${row}` }), 'SourceHeaderMismatch', /unexpected column\(s\) note$/);
    await fails(orderDetails, await fixture({ 'order_details.csv': `${HEADER.replace('qty', 'Qty')}${row}` }), 'SourceHeaderMismatch', /missing column\(s\) qty; unexpected column\(s\) Qty; did you mean: Qty -> qty\?/);
    await fails(orderDetails, await fixture({ 'order_details.csv': `${HEADER},qty${row}` }), 'SourceHeaderMismatch', /duplicated column\(s\) qty/);
  });

  void test('a file that is not what its extension says', async () => {
    const xlsx = await readFile(path.join(SEED, 'cities.xlsx'));
    await fails(orderDetails, await fixture({ 'order_details.csv': xlsx }), 'SourceFormatError', /order_details\.csv: is a zip archive \(an Excel \.xlsx workbook\?\), not CSV text/);
    await fails(source('customers'), await fixture({ 'customers.parquet': 'customer_id,first_name\n1,Adam\n' }), 'SourceFormatError', /customers\.parquet: is not a Parquet file/);
    await fails(source('products'), await fixture({ 'products.json': 'product_id,product_name\n1,x\n' }), 'SourceFormatError', /products\.json: is not valid JSON/);
    await fails(source('cities'), await fixture({ 'cities.xlsx': 'city_id,city_names\n1,x\n' }), 'SourceFormatError', /cities\.xlsx: is not/);
    await fails(orderDetails, await fixture({ 'order_details.csv': Buffer.from(`${HEADER}\r\n1,1,1,1,1,1\r\n`, 'utf16le') }), 'SourceFormatError', /contains a NUL byte|UTF-16/);
  });

  void test('malformed JSON names the line and column', async () => {
    await fails(source('products'), await fixture({ 'products.json': '[\n {"product_id": 1, "product_name": "a", "size": "M", "price": 1, "product_category_id": 1},\n {"product_id": 2,,}\n]' }), 'SourceFormatError', /products\.json: is not valid JSON at line 3 column/);
  });

  void test('a Parquet file with the wrong schema: renamed column', async () => {
    const bytes = parquetWriteBuffer({
      columnData: [
        { name: 'customer_id', type: 'INT64', data: [1n, 2n] },
        { name: 'first_name', type: 'STRING', data: ['Ann', 'Bo'] },
        { name: 'surname', type: 'STRING', data: ['X', 'Y'] },
        { name: 'gender', type: 'STRING', data: ['F', 'M'] },
      ],
    });
    await fails(source('customers'), await fixture({ 'customers.parquet': new Uint8Array(bytes) }), 'SourceHeaderMismatch', /missing column\(s\) last_name; unexpected column\(s\) surname/);
  });
});

void describe('row-level problems go to ops.rejected_rows, with every reason and the exact row number', () => {
  void test('wrong types, blanks, zero/negative quantities, unit_sales != qty x item_price, duplicates, truncated last line', async () => {
    const lines = [
      '1,1,1,2,100,200', //  1 ok
      '2,1,1,two,100,200', //  2 wrong type
      '3,1,,1,100,100', //  3 blank required
      '4,1,1,0,100,0', //  4 zero quantity
      '5,1,1,-2,100,-200', //  5 negative quantity
      '6,1,1,2,100,250', //  6 unit_sales != qty x item_price
      '7,1,1,1,abc,', //  7 several problems at once
      '3,2,2,1,10,10', //  8 duplicate of row 3's key? no: row 3 was rejected, so this is the first valid 3
      '1,9,9,1,10,10', //  9 duplicate of row 1
      '8,1,1,1,10', // 10 truncated last line (no line end)
    ];
    const d = await fixture({ 'order_details.csv': `${HEADER}\n${lines.join('\n')}` });
    const r = await load(orderDetails, d, '100%');
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [10, 2, 8]);
    const rejects = await rejectedRows(r.runId);
    assert.deepEqual(
      rejects.map((x) => [x.row_number, x.errors]),
      [
        [2, ['column qty: expected an integer (got "two")']],
        [3, ['column product_id: a value is required (got (blank))']],
        [4, ['column qty: quantity must be positive (got "0")']],
        [5, ['column qty: quantity must be positive (got "-2")']],
        [6, ['column unit_sales: unit_sales 250 is not qty × item_price = 200 (got "250")']],
        [7, ['column item_price: expected a number (got "abc")', 'column unit_sales: a value is required (got (blank))']],
        [9, ['duplicate primary key order_detail_id=1, first seen at row 1 (line 2)']],
        [10, ['has 5 field(s) but the header has 6 (the last line of the file looks truncated)']],
      ],
    );
    // every row on its own line after the header: line = row + 1, for the duplicate moved at publish too
    assert.deepEqual(
      rejects.map((x) => x.line_number),
      rejects.map((x) => x.row_number + 1),
    );
    assert.deepEqual(rejects[0]!.raw, { order_detail_id: '2', order_id: '1', product_id: '1', qty: 'two', item_price: '100', unit_sales: '200' });
    const staged = await h.db.pool.query(`SELECT order_detail_id::int, order_id::int FROM staging.order_details ORDER BY 1`);
    assert.deepEqual(staged.rows, [
      { order_detail_id: 1, order_id: 1 },
      { order_detail_id: 3, order_id: 2 },
    ]);
    const ledger = await h.db.pool.query(`SELECT rows_read::int, rows_loaded::int, rows_rejected::int FROM ops.loads WHERE run_id = $1`, [r.runId]);
    assert.deepEqual(ledger.rows, [{ rows_read: 10, rows_loaded: 2, rows_rejected: 8 }]);
  });

  void test('unparseable dates', async () => {
    const d = await fixture({ 'orders.csv': 'order_id,order_date,customer_id,province_id,city_id\n1,2022-01-05 10:00:00.000,1,1,1\n2,05/01/2022,1,1,1\n3,2022-02-30,1,1,1\n' });
    const r = await load(orders, d, '2');
    assert.equal(r.rowsRejected, 2);
    assert.deepEqual(
      (await rejectedRows(r.runId)).map((x) => [x.row_number, x.errors]),
      [
        [2, ['column order_date: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]]) (got "05/01/2022")']],
        [3, ['column order_date: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]]) (got "2022-02-30")']],
      ],
    );
  });

  void test('bytes that are not UTF-8: that row is rejected, naming the byte and its offset; the rest loads', async () => {
    const d = await fixture({
      'orders.csv': Buffer.concat([
        Buffer.from('order_id,order_date,customer_id,province_id,city_id\n1,2022-01-05,1,1,1\n2,2022-01-06,1,1,'),
        Buffer.from([0xe9]),
        Buffer.from('\n3,2022-01-07,1,1,1\n'),
      ]),
    });
    const r = await load(orders, d, '1');
    assert.deepEqual([r.rowsLoaded, r.rowsRejected], [2, 1]);
    const [rej] = await rejectedRows(r.runId);
    assert.equal(rej!.row_number, 2);
    assert.match(rej!.errors[0]!, /^not valid UTF-8 text: byte 0xE9 at byte offset 88 of the file/);
  });

  void test('over the budget: the run fails with the file, count, commonest reasons and first rows', async () => {
    const d = await fixture({ 'order_details.csv': `${HEADER}\n1,1,1,x,1,1\n2,1,1,1,1,1\n3,1,1,y,1,1\n4,1,1,0,1,0\n` });
    await fails(orderDetails, d, 'SourceRowInvalid', /^order_details\.csv: .*over the reject budget of 0 row\(s\); most common: qty: expected an integer \(1\); first rejected row\(s\): 1; row 1 \(line 2\): column qty: expected an integer \(got "x"\)/);
    const dd = await fixture({ 'order_details.csv': `${HEADER}\n1,1,1,x,1,1\n2,1,1,1,1,1\n3,1,1,y,1,1\n4,1,1,0,1,0\n` });
    await assert.rejects(load(orderDetails, dd, '2'), /3 row\(s\) rejected before the load stopped, over the reject budget of 2 row\(s\); most common: qty: expected an integer \(2\), qty: quantity must be positive \(1\); first rejected row\(s\): 1, 3, 4/);
  });
});

void describe('awkward but valid input loads', () => {
  void test('CRLF, BOM, accented UTF-8, quoted commas, doubled quotes and embedded newlines, blank lines, header only', async () => {
    const d = await fixture({
      'orders.csv':
        '\uFEFForder_id,order_date,customer_id,province_id,city_id\r\n1,2022-01-05,1,1,1\r\n\r\n"2","2022-01-06 10:00","1","1","1"\r\n3,2022-01-07,1,1,1\r\n',
      'products.json': JSON.stringify([
        { product_id: 1, product_name: 'Kemeja "Batik", Solo', size: 'M', price: 1, product_category_id: 1 },
        { product_id: 2, product_name: 'Café\nrené', size: 'L', price: 2.5, product_category_id: 1 },
      ]),
    });
    const r = await load(orders, d);
    assert.deepEqual([r.rowsRead, r.rowsLoaded], [3, 3]);
    const quoted = await fixture({
      'order_details.csv': `${HEADER}\r\n1,"1",1,1,"1,0",1\r\n`,
    });
    // "1,0" in a numeric column: one field (quoted), not a number
    await assert.rejects(load(orderDetails, quoted), /expected a number \(got "1,0"\)/);
    const p = await load(source('products'), d);
    assert.equal(p.rowsLoaded, 2);
    const names = await h.db.pool.query(`SELECT product_name FROM staging.products ORDER BY product_id`);
    assert.deepEqual(names.rows.map((x) => x.product_name), ['Kemeja "Batik", Solo', 'Café\nrené']);
    const csvText = await fixture({
      'cities.xlsx': await readFile(path.join(SEED, 'cities.xlsx')),
      'orders.csv': 'order_id,order_date,customer_id,province_id,city_id\n',
    });
    // a header-only file is an empty delivery: refused unless the run allows it (bad-input-files: empty delivery)
    await assert.rejects(load(orders, csvText), /orders\.csv: has no data rows \(an empty or header-only delivery\)/);
    const empty = await loadSource(h.db.pool, orders, csvText, { runId: `bad-${n}-empty`, allowEmpty: true });
    assert.deepEqual([empty.rowsRead, empty.rowsLoaded], [0, 0]);
    const count = await h.db.pool.query(`SELECT count(*)::int AS n FROM staging.orders`);
    assert.equal(count.rows[0].n, 0, 'with --allow-empty a header-only file empties staging');
  });

  void test('quoted fields with line breaks and accents in CSV', async () => {
    const spec = defineSource({
      name: 'notes',
      file: 'notes.csv',
      format: 'csv',
      columns: { note_id: col.int(), body: col.text(), city: col.text() },
      primaryKey: ['note_id'],
    });
    const d = await fixture({ 'notes.csv': 'note_id,body,city\n1,"a, b","Bogotá"\n2,"said ""hi""\non two lines",São Paulo\n3,plain,Zürich\n' });
    const r = await load(spec, d);
    assert.deepEqual([r.rowsRead, r.rowsLoaded], [3, 3]);
    const rows = await h.db.pool.query(`SELECT note_id::int, body, city FROM staging.notes ORDER BY 1`);
    assert.deepEqual(rows.rows, [
      { note_id: 1, body: 'a, b', city: 'Bogotá' },
      { note_id: 2, body: 'said "hi"\non two lines', city: 'São Paulo' },
      { note_id: 3, body: 'plain', city: 'Zürich' },
    ]);
  });

  void test('JSON in records and in columns orientation, and NDJSON', async () => {
    const products = source('products');
    const records = [
      { product_id: 1, product_name: 'A', size: 'M', price: 10, product_category_id: 1 },
      { product_id: 2, product_name: 'B', size: 'L', price: 12.5, product_category_id: 2 },
    ];
    const columns = Object.fromEntries(Object.keys(records[0]!).map((k) => [k, Object.fromEntries(records.map((r, i) => [String(i), r[k as keyof typeof r]]))]));
    for (const content of [JSON.stringify(records), JSON.stringify(columns), records.map((r) => JSON.stringify(r)).join('\n')]) {
      const r = await load(products, await fixture({ 'products.json': content }));
      assert.deepEqual([r.rowsRead, r.rowsLoaded], [2, 2]);
      const rows = await h.db.pool.query(`SELECT product_id::int, product_name, price::float8 FROM staging.products ORDER BY 1`);
      assert.deepEqual(rows.rows, [
        { product_id: 1, product_name: 'A', price: 10 },
        { product_id: 2, product_name: 'B', price: 12.5 },
      ]);
    }
  });

  void test('duplicate keys in a JSON file: the later occurrence is rejected, naming the first row', async () => {
    const products = source('products');
    const records = [
      { product_id: 1, product_name: 'A', size: 'M', price: 10, product_category_id: 1 },
      { product_id: 2, product_name: 'B', size: 'L', price: 12.5, product_category_id: 2 },
      { product_id: 1, product_name: 'A again', size: 'S', price: 11, product_category_id: 1 },
    ];
    const r = await load(products, await fixture({ 'products.json': JSON.stringify(records) }), '1');
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [3, 2, 1]);
    const [rej] = await rejectedRows(r.runId);
    assert.equal(rej!.row_number, 3);
    assert.equal(rej!.line_number, 1); // JSON on one line: every record starts on line 1
    assert.deepEqual(rej!.errors, ['duplicate primary key product_id=1, first seen at row 1 (line 1)']);
    assert.equal(rej!.raw.product_name, 'A again');
    const kept = await h.db.pool.query(`SELECT product_name FROM staging.products WHERE product_id = 1`);
    assert.equal(kept.rows[0].product_name, 'A');
  });

  void test('an Excel workbook with extra sheets, blank rows, formula cells, dates as serial numbers and as text', async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Read me').addRow(['this sheet is not the data']);
    const ws = wb.addWorksheet('Sales');
    ws.getRow(2).values = ['sale_id', 'sold_on', 'amount']; // row 1 blank: the header is the first non-blank row
    ws.getRow(3).values = [1, new Date(Date.UTC(2022, 0, 31)), 10.5];
    ws.getCell('B3').numFmt = 'yyyy-mm-dd';
    ws.getRow(4).values = [2, 44562, { formula: 'C3*2', result: 21 }]; // a date typed as its serial number (2022-01-01)
    // row 5 blank
    ws.getRow(6).values = [3, '2022-02-15', { formula: 'C3+1', result: 11.5 }]; // a date typed as text
    ws.getRow(7).values = [4, 'next tuesday', 1];
    ws.getRow(8).values = [5, { formula: 'B3+1', result: 44593 }, 2];
    ws.getCell('B8').numFmt = 'dd/mm/yyyy';
    wb.addWorksheet('Pivot').addRow(['ignored']);
    const file = path.join(dir, `sales-${++n}.xlsx`);
    await wb.xlsx.writeFile(file);
    const d = path.dirname(file);
    await copyFile(file, path.join(d, 'sales.xlsx'));
    const spec = defineSource({
      name: 'sales_book',
      file: 'sales.xlsx',
      format: 'excel',
      sheet: 'Sales',
      columns: { sale_id: col.int(), sold_on: col.date(), amount: col.numeric() },
      primaryKey: ['sale_id'],
      rejectBudget: 1,
    });
    const r = await load(spec, d);
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [5, 4, 1]);
    const rows = await h.db.pool.query(`SELECT sale_id::int, to_char(sold_on, 'YYYY-MM-DD') AS sold_on, amount::float8 FROM staging.sales_book ORDER BY 1`);
    assert.deepEqual(rows.rows, [
      { sale_id: 1, sold_on: '2022-01-31', amount: 10.5 },
      { sale_id: 2, sold_on: '2022-01-01', amount: 21 },
      { sale_id: 3, sold_on: '2022-02-15', amount: 11.5 },
      { sale_id: 5, sold_on: '2022-02-01', amount: 2 },
    ]);
    const [rej] = await rejectedRows(r.runId);
    assert.equal(rej!.row_number, 5, 'Excel rows are numbered from the header row: sheet row 7 is row 5');
    assert.match(rej!.errors[0]!, /column sold_on: expected a date \(YYYY-MM-DD\) \(got "next tuesday"\)/);
  });

  void test('a Parquet file with a wrong type in a column: rows rejected', async () => {
    const bytes = parquetWriteBuffer({
      columnData: [
        { name: 'customer_id', type: 'STRING', data: ['1', 'abc'] },
        { name: 'first_name', type: 'STRING', data: ['Ann', 'Bo'] },
        { name: 'last_name', type: 'STRING', data: ['X', null] },
        { name: 'gender', type: 'STRING', data: ['F', 'M'] },
      ],
    });
    const r = await load(source('customers'), await fixture({ 'customers.parquet': new Uint8Array(bytes) }), '1');
    assert.deepEqual([r.rowsLoaded, r.rowsRejected], [1, 1]);
    assert.deepEqual((await rejectedRows(r.runId)).map((x) => [x.row_number, x.errors]), [[2, ['column customer_id: expected an integer (got "abc")']]]);
  });
});

void describe('through the pipeline (Temporal)', () => {
  async function brokenSeed(mutate: (d: string) => Promise<void>): Promise<string> {
    const d = path.join(dir, `seed-${++n}`);
    await cp(SEED, d, { recursive: true });
    await mutate(d);
    return d;
  }

  void test('orphans are counted once duplicate keys have left the load (counted while the key is built otherwise)', async () => {
    const d = await brokenSeed(async (d) => {
      const od = path.join(d, 'order_details.csv');
      const lines = (await readFile(od, 'utf8')).split('\n');
      lines.splice(lines.length - 1, 0, '999001,1,999,1,100,100', '999001,1,999,1,100,100'); // an unknown product, twice
      await writeFile(od, lines.join('\n'));
    });
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: d, runKey: 'orphan-duplicates', rejectBudget: '5' });
    const od = ((await run.handle.result()) as PipelineSummary).loads.find((l) => l.source === 'order_details')!;
    assert.equal(od.rowsRejected, 1, 'the second 999001 is a duplicate');
    assert.deepEqual(od.orphans, [{ columns: ['product_id'], parent: 'products', rows: 1, keys: 1 }]);
    const listed = await h.db.pool.query(`SELECT rows::int, child_keys FROM ops.orphans WHERE run_id = $1 AND source = 'order_details'`, [run.runId]);
    assert.deepEqual(listed.rows, [{ rows: 1, child_keys: ['999001'] }]);
  });

  void test('under budget the run completes and reports its rejects; orphan keys load against the unknown members', async () => {
    const d = await brokenSeed(async (d) => {
      const od = path.join(d, 'order_details.csv');
      const lines = (await readFile(od, 'utf8')).split('\n');
      lines[5] = lines[5]!.replace(/^(\d+),(\d+),(\d+),(\d+),/, '$1,$2,$3,two,'); // row 5 rejected
      lines.splice(lines.length - 1, 0, '999001,1,999,1,100,100'); // an unknown product
      lines.splice(lines.length - 1, 0, '999002,999001,1,1,100,100'); // an order that is not in orders.csv... yet
      await writeFile(od, lines.join('\n'));
      const o = path.join(d, 'orders.csv');
      await writeFile(o, (await readFile(o, 'utf8')).replace(/\n?$/, '\n999001,2022-03-01 00:00:00.000,99999,1,99999\n'));
    });
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: d, runKey: 'under-budget', rejectBudget: '5' });
    const summary = (await run.handle.result()) as PipelineSummary;
    const od = summary.loads.find((l) => l.source === 'order_details')!;
    assert.equal(od.rowsRejected, 1);
    assert.equal(od.rowsRead, od.rowsLoaded + od.rowsRejected);
    assert.equal(od.rejectBudget, '5');
    assert.deepEqual(od.firstRejectedRows, [5]);
    assert.deepEqual(od.rejectKinds, [{ kind: 'qty: expected an integer', rows: 1 }]);
    const ledger = await h.db.pool.query(`SELECT rows_read::int, rows_loaded::int, rows_rejected::int FROM ops.loads WHERE run_id = $1 AND source = 'order_details'`, [run.runId]);
    assert.deepEqual(ledger.rows, [{ rows_read: od.rowsRead, rows_loaded: od.rowsLoaded, rows_rejected: 1 }]);
    const facts = await h.db.pool.query(
      `SELECT order_detail_id::int, product_key, customer_key, location_key FROM warehouse.fct_transactions WHERE order_detail_id IN (999001, 999002) ORDER BY 1`,
    );
    assert.deepEqual(facts.rows, [
      { order_detail_id: 999001, product_key: -1, customer_key: (facts.rows[0] as { customer_key: number }).customer_key, location_key: (facts.rows[0] as { location_key: number }).location_key },
      { order_detail_id: 999002, product_key: (facts.rows[1] as { product_key: number }).product_key, customer_key: -1, location_key: -1 },
    ]);
    assert.notEqual((facts.rows[1] as { product_key: number }).product_key, -1);
    // and reported
    const report = await h.db.pool.query(await readFile(path.resolve(import.meta.dirname, '../../sql/checks/django-apparel/orphans.sql'), 'utf8'));
    assert.deepEqual(
      report.rows.map((r: { reference: string; order_lines: string; sample_order_detail_ids: string[] }) => [r.reference, Number(r.order_lines), r.sample_order_detail_ids.map(Number)]),
      [
        ['city', 1, [999002]],
        ['customer', 1, [999002]],
        ['product', 1, [999001]],
      ],
    );
    // counted per relation in the run summary, ops.loads and, per missing key with the child ids, ops.orphans
    const o = summary.loads.find((l) => l.source === 'orders')!;
    assert.deepEqual(od.orphans, [
      { columns: ['product_id'], parent: 'products', rows: 1, keys: 1 },
    ]);
    assert.deepEqual(o.orphans, [
      { columns: ['customer_id'], parent: 'customers', rows: 1, keys: 1 },
      { columns: ['city_id'], parent: 'cities', rows: 1, keys: 1 },
    ]);
    const loadsRow = await h.db.pool.query(`SELECT orphans FROM ops.loads WHERE run_id = $1 AND source = 'order_details'`, [run.runId]);
    assert.deepEqual(loadsRow.rows[0].orphans, od.orphans);
    const listed = await h.db.pool.query(
      `SELECT source, columns, parent, parent_key, rows::int, child_keys FROM ops.orphans WHERE run_id = $1 ORDER BY source, parent`,
      [run.runId],
    );
    assert.deepEqual(listed.rows, [
      { source: 'order_details', columns: ['product_id'], parent: 'products', parent_key: '999', rows: 1, child_keys: ['999001'] },
      { source: 'orders', columns: ['city_id'], parent: 'cities', parent_key: '99999', rows: 1, child_keys: ['999001'] },
      { source: 'orders', columns: ['customer_id'], parent: 'customers', parent_key: '99999', rows: 1, child_keys: ['999001'] },
    ]);
    assert.match(formatSummary(summary), /order_details\.csv: 1 orphan row\(s\): product_id not in products \(1 missing key\(s\), in ops\.orphans/);
    const landing = await h.db.pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'landing'`);
    assert.equal(landing.rows[0].n, 0);
  });

  void test('a rejected order takes its lines with it: quarantined naming the order, and the run reconciles', async () => {
    let lineRows: number[] = [];
    const d = await brokenSeed(async (d) => {
      const o = path.join(d, 'orders.csv');
      const lines = (await readFile(o, 'utf8')).split('\n');
      assert.match(lines[3]!, /^3,/);
      lines[3] = lines[3]!.replace(/^3,2022-\d\d/, '3,2022-13'); // order 3 (file row 3): month 13, rejected
      await writeFile(o, lines.join('\n'));
      const details = (await readFile(path.join(d, 'order_details.csv'), 'utf8')).split('\n').slice(1);
      lineRows = details.flatMap((l, i) => (l.split(',')[1] === '3' ? [i + 1] : []));
    });
    assert.ok(lineRows.length > 0);
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: d, runKey: 'parent-rejected', rejectBudget: '1' });
    const summary = (await run.handle.result()) as PipelineSummary;
    const o = summary.loads.find((l) => l.source === 'orders')!;
    const od = summary.loads.find((l) => l.source === 'order_details')!;
    assert.equal(o.rowsRejected, 1);
    assert.equal(od.rowsRejected, 0); // the budget of 1 is not spent by the order's lines
    assert.equal(od.rowsQuarantined, lineRows.length);
    assert.equal(od.rowsRead, od.rowsLoaded + od.rowsQuarantined!);
    const ledger = await h.db.pool.query(`SELECT rows_read::int, rows_loaded::int, rows_rejected::int, rows_quarantined::int FROM ops.loads WHERE run_id = $1 AND source = 'order_details'`, [run.runId]);
    assert.deepEqual(ledger.rows, [{ rows_read: od.rowsRead, rows_loaded: od.rowsLoaded, rows_rejected: 0, rows_quarantined: lineRows.length }]);
    const quarantined = await h.db.pool.query<{ row_number: number; line_number: number; errors: string[]; kinds: string[] }>(
      `SELECT row_number::int, line_number::int, errors, kinds FROM ops.rejected_rows WHERE run_id = $1 AND source = 'order_details' ORDER BY row_number`,
      [run.runId],
    );
    assert.deepEqual(quarantined.rows.map((r) => r.row_number), lineRows);
    // the seed file has no blank lines or quoted line breaks: each line's record starts on line row + 1
    assert.deepEqual(quarantined.rows.map((r) => r.line_number), lineRows.map((row) => row + 1));
    for (const r of quarantined.rows) {
      assert.deepEqual(r.errors, ['its parent row was rejected (orders orders.csv row 3 line 4, order_id=3): quarantined with it']);
      assert.deepEqual(r.kinds, ['parent row rejected']);
    }
    // nothing of order 3 in the warehouse, and every gate (facts reconcile with staging, marts with facts) passed
    const facts = await h.db.pool.query(`SELECT count(*)::int AS n FROM warehouse.fct_transactions WHERE order_id = 3`);
    assert.equal(facts.rows[0].n, 0);
    assert.ok(summary.gates.every((g) => g.checks.every((c) => c.passed)));
    assert.match(formatSummary(summary), new RegExp(`order_details\\.csv: ${lineRows.length} row\\(s\\) quarantined with their rejected parent row`));
  });

  void test('over budget the run fails without retrying, and leaves no landing table behind', async () => {
    const d = await brokenSeed(async (d) => {
      const od = path.join(d, 'order_details.csv');
      const lines = (await readFile(od, 'utf8')).split('\n');
      for (const i of [3, 4, 5]) lines[i] = lines[i]!.replace(/^(\d+),/, 'x$1,');
      await writeFile(od, lines.join('\n'));
    });
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: d, runKey: 'over-budget', rejectBudget: '2' });
    const err = await run.handle.result().then(
      () => assert.fail('the run should fail'),
      (e: unknown) => e,
    );
    const message = failureMessage(err);
    assert.match(message, /order_details\.csv: 3 row\(s\) rejected before the load stopped, over the reject budget of 2 row\(s\); most common: order_detail_id: expected an integer \(3\); first rejected row\(s\): 3, 4, 5/);
    const history = await run.handle.fetchHistory();
    const retried = history.events!.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    assert.equal(retried.length, 0);
    const landing = await h.db.pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'landing'`);
    assert.equal(landing.rows[0].n, 0);
    const kept = await h.db.pool.query(`SELECT count(*)::int AS n FROM ops.rejected_rows WHERE run_id = $1`, [run.runId]);
    assert.equal(kept.rows[0].n, 3);
  });
});
