import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { parquetWriteFile } from 'hyparquet-writer';
import { InputError } from '../../src/errors';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { readCsv, readExcel, readJson, readParquet, readerFor } from '../../src/sources/readers/index';
import { checkHeader, describeRowErrors, validateRecord } from '../../src/sources/validate';
import type { RawRecord, Reader, RecordStream } from '../../src/sources/types';

const SEED = process.env.GUDANG_SEED_DIR ?? '/work/shared/datasets';
const APPAREL = path.join(SEED, 'django-apparel');
const SUPERSTORE_CSV = path.join(SEED, 'superstore', 'Sample - Superstore.csv');

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-readers-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The records (rows and values; the JSON reader's line numbers are checked on their own). */
async function collect(stream: RecordStream): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const { line: _line, ...record } of stream.records) out.push(record);
  return out;
}

async function fixture(name: string, content: string | Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

/** Reads a whole file and returns header + records. */
async function readAll(reader: Reader, file: string, sheet?: string) {
  const stream = await reader(file, { displayName: path.basename(file), sheet });
  return { header: stream.header, records: await collect(stream) };
}

/** Asserts that reading the file (header and every record) fails with an InputError of `type` whose message matches. */
async function assertReadFails(reader: Reader, file: string, type: string, message: RegExp, sheet?: string) {
  await assert.rejects(
    () => readAll(reader, file, sheet),
    (err: unknown) => {
      assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
      assert.equal(err.type, type);
      assert.match(err.message, message);
      return true;
    },
  );
}

void describe('seed files: django-apparel', () => {
  const spec = (name: string) => {
    const s = djangoApparel.sources.find((x) => x.name === name);
    assert.ok(s, name);
    return s;
  };
  const read = async (name: string) => {
    const s = spec(name);
    const stream = await readerFor(s.format)(path.join(APPAREL, s.file), { displayName: s.file, sheet: s.sheet });
    return { header: stream.header, records: await collect(stream) };
  };

  void test('product_categories.json (pandas columns orientation)', async () => {
    const { header, records } = await read('product_categories');
    assert.deepEqual(header, ['product_category_id', 'product_category_name']);
    assert.equal(records.length, 2);
    assert.deepEqual(records[0], { row: 1, values: { product_category_id: 1, product_category_name: 'Mens Fashion' } });
    assert.deepEqual(records[1], { row: 2, values: { product_category_id: 2, product_category_name: 'Womens Fashion' } });
  });

  void test('products.json', async () => {
    const { header, records } = await read('products');
    assert.deepEqual(header, ['product_id', 'product_name', 'size', 'price', 'product_category_id']);
    assert.equal(records.length, 43);
    assert.deepEqual(records[0]!.values, { product_id: 1, product_name: 'Hoodie Black', size: 'L', price: 190000, product_category_id: 2 });
    assert.deepEqual(
      records.map((r) => r.values.product_id),
      Array.from({ length: 43 }, (_, i) => i + 1),
    );
    assert.equal(records[42]!.row, 43);
  });

  void test('customers.parquet: int64 ids arrive as bigint', async () => {
    const { header, records } = await read('customers');
    assert.deepEqual(header, ['customer_id', 'first_name', 'last_name', 'gender']);
    assert.equal(records.length, 200);
    assert.deepEqual(records[0], { row: 1, values: { customer_id: 1n, first_name: 'Adam', last_name: 'Williams', gender: 'Male' } });
    assert.ok(records.every((r) => typeof r.values.customer_id === 'bigint'));
    assert.equal(records[199]!.row, 200);
    assert.equal(records[199]!.values.customer_id, 200n);
  });

  void test('provinces.xlsx: first sheet by default, and by name "Sheet1"', async () => {
    const { header, records } = await read('provinces');
    assert.deepEqual(header, ['province_id', 'province_names']);
    assert.equal(records.length, 11);
    assert.deepEqual(records[0], { row: 1, values: { province_id: 1, province_names: 'BALI' } });
    assert.deepEqual(records[1]!.values, { province_id: 2, province_names: 'DKI JAKARTA' });
    const named = await readAll(readExcel, path.join(APPAREL, 'provinces.xlsx'), 'Sheet1');
    assert.deepEqual(named.records, records);
  });

  void test('cities.xlsx: sheet "Worksheet"', async () => {
    const { header, records } = await read('cities');
    assert.deepEqual(header, ['city_id', 'city_names', 'province_id']);
    assert.equal(records.length, 222);
    assert.deepEqual(records[0], { row: 1, values: { city_id: 1, city_names: 'KABUPATEN BADUNG', province_id: 1 } });
    assert.deepEqual(records[221], { row: 222, values: { city_id: 222, city_names: 'KOTA TEBING TINGGI', province_id: 11 } });
    const named = await readAll(readExcel, path.join(APPAREL, 'cities.xlsx'), 'Worksheet');
    assert.equal(named.records.length, 222);
    await assertReadFails(readExcel, path.join(APPAREL, 'cities.xlsx'), 'SourceFormatError', /cities\.xlsx: has no sheet named "Sheet1"; its sheets are "Worksheet"/, 'Sheet1');
  });

  void test('orders.csv', async () => {
    const { header, records } = await read('orders');
    assert.deepEqual(header, ['order_id', 'order_date', 'customer_id', 'province_id', 'city_id']);
    assert.equal(records.length, 7000);
    assert.deepEqual(records[0], {
      row: 1,
      values: { order_id: '1', order_date: '2022-01-01 00:00:00.000', customer_id: '171', province_id: '10', city_id: '184' },
    });
    assert.equal(records[6999]!.row, 7000);
    assert.equal(records[6999]!.values.order_id, '7000');
  });

  void test('order_details.csv', async () => {
    const { header, records } = await read('order_details');
    assert.deepEqual(header, ['order_detail_id', 'order_id', 'product_id', 'qty', 'item_price', 'unit_sales']);
    assert.equal(records.length, 18322);
    assert.deepEqual(records[0]!.values, {
      order_detail_id: '10000',
      order_id: '1',
      product_id: '38',
      qty: '1',
      item_price: '40000',
      unit_sales: '40000',
    });
  });

  void test('every record of every source passes its header check and row validation', async () => {
    const counts: Record<string, number> = {};
    for (const s of djangoApparel.sources) {
      const stream = await readerFor(s.format)(path.join(APPAREL, s.file), { displayName: s.file, sheet: s.sheet });
      checkHeader(s, stream.header, s.file);
      let n = 0;
      for await (const record of stream.records) {
        const result = validateRecord(s, record);
        if (!result.ok) assert.fail(describeRowErrors(s.file, record.row, result.errors));
        n++;
      }
      counts[s.name] = n;
    }
    assert.deepEqual(counts, {
      product_categories: 2,
      products: 43,
      customers: 200,
      provinces: 11,
      cities: 222,
      orders: 7000,
      order_details: 18322,
    });
  });
});

void describe('seed files: superstore', () => {
  void test('Sample - Superstore.csv: BOM, quoted names with commas and doubled quotes', async () => {
    const { header, records } = await readAll(readCsv, SUPERSTORE_CSV);
    assert.equal(header[0], 'Row ID'); // BOM stripped
    assert.equal(header.length, 21);
    assert.equal(header[16], 'Product Name');
    assert.equal(records.length, 9994);
    assert.equal(records[0]!.values['Row ID'], '1');
    assert.equal(records[9993]!.row, 9994);
    const row2 = records[1]!;
    assert.equal(row2.values['Product Name'], 'Hon Deluxe Fabric Upholstered Stacking Chairs, Rounded Back');
    const row17 = records.find((r) => r.values['Row ID'] === '17')!;
    assert.equal(row17.values['Product Name'], 'Stur-D-Stor Shelving, Vertical 5-Shelf: 72"H x 36"W x 18 1/2"D');
    assert.equal(row17.values['Sales'], '665.88');
  });
});

void describe('CSV reader', () => {
  void test('BOM, CRLF, quoted commas, doubled quotes and embedded newlines', async () => {
    const file = await fixture(
      'tricky.csv',
      '\uFEFF id ,name,note\r\n1,"Smith, John","said ""hi"""\r\n2,"two\r\nlines",plain\r\n3,,"a,b,""c"""\r\n',
    );
    const { header, records } = await readAll(readCsv, file);
    assert.deepEqual(header, ['id', 'name', 'note']);
    assert.deepEqual(records, [
      { row: 1, values: { id: '1', name: 'Smith, John', note: 'said "hi"' } },
      { row: 2, values: { id: '2', name: 'two\r\nlines', note: 'plain' } },
      { row: 3, values: { id: '3', name: '', note: 'a,b,"c"' } },
    ]);
  });

  void test('LF line ends, no trailing newline, blank lines skipped', async () => {
    const file = await fixture('lf.csv', 'a,b\n1,2\n\n3,4');
    const { records } = await readAll(readCsv, file);
    assert.deepEqual(
      records.map((r) => [r.row, r.values]),
      [
        [1, { a: '1', b: '2' }],
        [2, { a: '3', b: '4' }],
      ],
    );
  });

  void test('a header named __proto__ becomes an own property, never the prototype', async () => {
    const file = await fixture('proto.csv', 'id,__proto__\n1,x\n');
    const { header, records } = await readAll(readCsv, file);
    assert.deepEqual(header, ['id', '__proto__']);
    const values = records[0]!.values;
    assert.equal(Object.getPrototypeOf(values), Object.prototype);
    assert.ok(Object.hasOwn(values, '__proto__'));
    assert.deepEqual(Object.keys(values), ['id', '__proto__']);
    const json = await fixture('proto.ndjson', '{"id":1,"__proto__":{"polluted":true}}\n');
    const fromJson = (await readAll(readJson, json)).records[0]!.values;
    assert.equal(Object.getPrototypeOf(fromJson), Object.prototype);
    assert.equal((fromJson as { polluted?: unknown }).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(fromJson, '__proto__')?.value, { polluted: true });
  });

  void test('header only: no records', async () => {
    const file = await fixture('header-only.csv', 'a,b\r\n');
    const { header, records } = await readAll(readCsv, file);
    assert.deepEqual(header, ['a', 'b']);
    assert.deepEqual(records, []);
  });

  void test('multi-byte UTF-8 across read chunks is not mistaken for invalid text', async () => {
    const line = 'é,日本語,🙂\n';
    const file = await fixture('utf8.csv', `x,y,z\n${line.repeat(40_000)}`); // ~ 640 KB: several 256 KB chunks
    const { records } = await readAll(readCsv, file);
    assert.equal(records.length, 40_000);
    assert.deepEqual(records[39_999]!.values, { x: 'é', y: '日本語', z: '🙂' });
  });

  void test('a row with a different number of fields than the header', async () => {
    const file = await fixture('ragged.csv', 'a,b,c\n1,2,3\n4,5\n');
    await assertReadFails(readCsv, file, 'SourceFormatError', /^ragged\.csv: row 2 has 2 field\(s\) but the header has 3$/);
    const more = await fixture('ragged2.csv', 'a,b\n1,2\n3,4\n5,6,7\n');
    await assertReadFails(readCsv, more, 'SourceFormatError', /^ragged2\.csv: row 3 has 3 field\(s\)/);
  });

  void test('an unclosed quote is a format error naming the file', async () => {
    const file = await fixture('quote.csv', 'a,b\n1,2\n3,"x"y\n');
    await assertReadFails(readCsv, file, 'SourceFormatError', /^quote\.csv: is not valid CSV at row 2: Invalid Closing Quote/);
  });

  void test('binary content (NUL bytes) is rejected', async () => {
    const file = await fixture('binary.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00]));
    await assertReadFails(readCsv, file, 'SourceFormatError', /^binary\.csv: contains a NUL byte.*not a UTF-8 CSV file \(line 1, byte offset 5\)$/);
    const utf16 = await fixture('utf16.csv', Buffer.from('\uFEFFa,b\r\n1,2\r\n', 'utf16le'));
    await assertReadFails(readCsv, utf16, 'SourceFormatError', /^utf16\.csv: /);
  });

  void test('invalid UTF-8 is rejected with its line', async () => {
    const file = await fixture('latin1.csv', Buffer.concat([Buffer.from('name,city\nA,Jakarta\nB,Bogot'), Buffer.from([0xe1]), Buffer.from('\n')]));
    await assertReadFails(readCsv, file, 'SourceFormatError', /^latin1\.csv: is not valid UTF-8 text \(line 3, byte offset 27\)$/);
  });

  void test('empty file', async () => {
    const file = await fixture('empty.csv', '');
    await assertReadFails(readCsv, file, 'SourceFormatError', /^empty\.csv: is empty/);
  });

  void test('records are pulled lazily: breaking early works and releases the file', async () => {
    const stream = await readCsv(path.join(APPAREL, 'order_details.csv'), { displayName: 'order_details.csv' });
    let n = 0;
    for await (const record of stream.records) {
      n++;
      if (record.row === 5) break;
    }
    assert.equal(n, 5);
  });
});

void describe('JSON reader', () => {
  void test('pandas "columns" orientation: rows in numeric index order', async () => {
    const data = {
      id: { '0': 1, '10': 11, '2': 3, '1': 2 },
      name: { '0': 'a', '1': 'b', '2': 'c', '10': 'k' },
    };
    // write the keys in string order, as some writers do
    const text = '{"id":{"0":1,"1":2,"10":11,"2":3},"name":{"0":"a","1":"b","10":"k","2":"c"}}';
    assert.deepEqual(JSON.parse(text), data);
    const file = await fixture('columns.json', text);
    const { header, records } = await readAll(readJson, file);
    assert.deepEqual(header, ['id', 'name']);
    assert.deepEqual(records, [
      { row: 1, values: { id: 1, name: 'a' } },
      { row: 2, values: { id: 2, name: 'b' } },
      { row: 3, values: { id: 3, name: 'c' } },
      { row: 4, values: { id: 11, name: 'k' } },
    ]);
  });

  void test('pandas columns: a label missing from a column gives null', async () => {
    const file = await fixture('columns-gap.json', '{"id":{"0":1,"1":2},"name":{"0":"a"}}');
    const { records } = await readAll(readJson, file);
    assert.deepEqual(records[1]!.values, { id: 2, name: null });
  });

  void test('array of records, pretty-printed, with brackets and escapes inside strings', async () => {
    const rows = [
      { id: 1, name: 'plain', tags: ['x'] },
      { id: 2, name: 'has } and ] and \\"quotes\\" and \u00e9', tags: [] },
      { id: 3, name: '{[', tags: [{ deep: [1, 2] }] },
    ];
    const file = await fixture('records.json', '\uFEFF' + JSON.stringify(rows, null, 2));
    const { header, records } = await readAll(readJson, file);
    assert.deepEqual(header, ['id', 'name', 'tags']);
    assert.deepEqual(
      records,
      rows.map((values, i) => ({ row: i + 1, values })),
    );
  });

  void test('array of records: missing key -> null; a key the first record lacks is an error', async () => {
    const ok = await fixture('missing-key.json', '[{"a":1,"b":2},{"a":3}]');
    const { records } = await readAll(readJson, ok);
    assert.deepEqual(records[1], { row: 2, values: { a: 3, b: null } });
    const extra = await fixture('extra-key.json', '[{"a":1},{"a":2},{"a":3,"c":4}]');
    await assertReadFails(readJson, extra, 'SourceFormatError', /^extra-key\.json: row 3 has key "c" that the first record does not have/);
  });

  void test('NDJSON, CRLF and blank lines', async () => {
    const file = await fixture('lines.ndjson', '{"id":1,"name":"a"}\r\n\r\n{"id":2,"name":"b, c"}\r\n{"name":"d","id":3}\r\n');
    const { header, records } = await readAll(readJson, file);
    assert.deepEqual(header, ['id', 'name']);
    assert.deepEqual(records, [
      { row: 1, values: { id: 1, name: 'a' } },
      { row: 2, values: { id: 2, name: 'b, c' } },
      { row: 3, values: { id: 3, name: 'd' } },
    ]);
  });

  void test('NDJSON streams many lines', async () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ id: i + 1, text: `row ${i + 1}` })).join('\n');
    const file = await fixture('many.ndjson', lines);
    const { records } = await readAll(readJson, file);
    assert.equal(records.length, 30_000);
    assert.deepEqual(records[29_999], { row: 30_000, values: { id: 30_000, text: 'row 30000' } });
  });

  void test('malformed JSON names the file, line and column', async () => {
    const array = await fixture('bad-array.json', '[\n  {"a": 1},\n  {"a": 2,}\n]');
    await assertReadFails(readJson, array, 'SourceFormatError', /^bad-array\.json: is not valid JSON at line 3 column 11: Expected double-quoted property name$/);
    const ndjson = await fixture('bad-lines.ndjson', '{"a":1}\n{"a":2}\n{"a" 3}\n');
    await assertReadFails(readJson, ndjson, 'SourceFormatError', /^bad-lines\.ndjson: is not valid JSON at line 3 column 6: Expected ':' after property name$/);
    const columns = await fixture('bad-columns.json', '{"a":{"0":1},\n "b":{"0":tru}}');
    await assertReadFails(readJson, columns, 'SourceFormatError', /^bad-columns\.json: is not valid JSON in the value that starts at line 1 column 1: Unexpected token '\}'$/);
    const separator = await fixture('bad-separator.json', '[{"a":1} {"a":2}]');
    await assertReadFails(readJson, separator, 'SourceFormatError', /^bad-separator\.json: is not valid JSON: unexpected "\{", expected "," or "\]" \(line 1 column 10\)$/);
    const garbage = await fixture('garbage.json', 'hello');
    await assertReadFails(readJson, garbage, 'SourceFormatError', /^garbage\.json: is not valid JSON: unexpected "h" \(line 1 column 1\)$/);
  });

  void test('truncated JSON', async () => {
    const inside = await fixture('truncated.json', '[{"a":1},\n{"a":2');
    await assertReadFails(readJson, inside, 'SourceFormatError', /^truncated\.json: is not valid JSON: the file ends inside the value that starts at line 2 column 1$/);
    const unclosed = await fixture('unclosed.json', '[{"a":1},{"a":2}');
    await assertReadFails(readJson, unclosed, 'SourceFormatError', /^unclosed\.json: is not valid JSON: the file ends before the closing "\]"/);
  });

  void test('records that are not objects', async () => {
    const numbers = await fixture('numbers.json', '[1,2,3]');
    await assertReadFails(readJson, numbers, 'SourceFormatError', /^numbers\.json: row 1 is a number, not a JSON object/);
    const mixed = await fixture('mixed.ndjson', '{"a":1}\n"text"\n');
    await assertReadFails(readJson, mixed, 'SourceFormatError', /^mixed\.ndjson: row 2 is a string, not a JSON object/);
    const nested = await fixture('nested.json', '[{"a":1},[1]]');
    await assertReadFails(readJson, nested, 'SourceFormatError', /^nested\.json: row 2 is an array, not a JSON object/);
  });

  void test('empty file, blank file and empty array', async () => {
    await assertReadFails(readJson, await fixture('empty.json', ''), 'SourceFormatError', /^empty\.json: is empty/);
    await assertReadFails(readJson, await fixture('blank.json', ' \n\t\n'), 'SourceFormatError', /^blank\.json: is empty/);
    await assertReadFails(readJson, await fixture('empty-array.json', '[ ]'), 'SourceFormatError', /^empty-array\.json: contains an empty array/);
  });

  void test('invalid UTF-8: a bad byte inside a string is kept (as U+DCxx) for validation to reject its row; elsewhere the JSON is malformed', async () => {
    const file = await fixture('latin1.json', Buffer.concat([Buffer.from('[{"a":"Bogot'), Buffer.from([0xe1]), Buffer.from('"}, {"a": "ok \u00e9"}]')]));
    const stream = await readJson(file, { displayName: 'latin1.json' });
    const records = [];
    for await (const r of stream.records) records.push(r);
    assert.deepEqual(records, [
      { row: 1, line: 1, values: { a: 'Bogot\udce1' } },
      { row: 2, line: 1, values: { a: 'ok \u00e9' } },
    ]);
    const outside = await fixture('latin1b.json', Buffer.concat([Buffer.from('[{"a":1}'), Buffer.from([0xe1]), Buffer.from(']')]));
    await assertReadFails(readJson, outside, 'SourceFormatError', /^latin1b\.json: .*\(line 1 column 9\)$/);
  });
});

void describe('Excel reader', () => {
  let workbookFile: string;
  const when = new Date(Date.UTC(2022, 1, 28, 13, 45, 0));

  before(async () => {
    const wb = new ExcelJS.Workbook();
    const notes = wb.addWorksheet('Notes');
    notes.addRow(['note']);
    notes.addRow(['first sheet']);
    const data = wb.addWorksheet('Data');
    // rows 1-2 blank: the header is the first non-empty row (row 3)
    data.getRow(3).values = [' id ', 'name', 'when', 'total', 'due'];
    data.getRow(4).values = [1, 'plain', when, { formula: 'A4*10', result: 10 }, { formula: 'C4+1', result: 44621.5729166667 }];
    data.getRow(5).values = [2, { richText: [{ text: 'Rich ' }, { font: { bold: true }, text: 'Text' }] }, new Date(Date.UTC(2023, 0, 1)), { formula: 'A5*10', result: 20 }, null];
    // row 6 fully blank, skipped
    data.getRow(7).values = [3, { text: 'a link', hyperlink: 'https://example.com' }, null, { formula: 'A7*10' }, null];
    data.getCell('C4').numFmt = 'yyyy-mm-dd hh:mm';
    data.getCell('C5').numFmt = 'dd/mm/yyyy';
    data.getCell('E4').numFmt = 'yyyy-mm-dd hh:mm';
    workbookFile = path.join(dir, 'book.xlsx');
    await wb.xlsx.writeFile(workbookFile);

    const wide = new ExcelJS.Workbook();
    const sheet = wide.addWorksheet('Wide');
    sheet.addRow(['a', 'b']);
    sheet.addRow([1, 2]);
    sheet.addRow([3, 4, 'stray']);
    await wide.xlsx.writeFile(path.join(dir, 'wide.xlsx'));

    const empty = new ExcelJS.Workbook();
    empty.addWorksheet('Nothing');
    await empty.xlsx.writeFile(path.join(dir, 'empty-sheet.xlsx'));
  });

  void test('named sheet: header from the first non-empty row, formulas, dates, rich text, blank rows', async () => {
    const { header, records } = await readAll(readExcel, workbookFile, 'Data');
    assert.deepEqual(header, ['id', 'name', 'when', 'total', 'due']);
    // row = sheet row - header row (3): sheet rows 4, 5 and 7 -> 1, 2 and 4
    assert.deepEqual(
      records.map((r) => r.row),
      [1, 2, 4],
    );
    const [r1, r2, r3] = records;
    assert.equal(r1!.values.id, 1);
    assert.equal(r1!.values.name, 'plain');
    assert.ok(r1!.values.when instanceof Date);
    assert.equal((r1!.values.when as Date).toISOString(), when.toISOString());
    assert.equal(r1!.values.total, 10); // formula -> cached result
    // a formula whose cell has a date format -> Date from its cached serial number
    assert.ok(r1!.values.due instanceof Date);
    assert.equal((r1!.values.due as Date).toISOString(), '2022-03-01T13:45:00.000Z');
    assert.equal(r2!.values.name, 'Rich Text');
    assert.equal((r2!.values.when as Date).toISOString(), '2023-01-01T00:00:00.000Z');
    assert.equal(r2!.values.due, null);
    assert.equal(r3!.values.name, 'a link');
    assert.equal(r3!.values.when, null);
    assert.equal(r3!.values.total, null); // formula never calculated: no cached result
  });

  void test('no sheet named: several visible sheets are ambiguous (issue 9: never guess)', async () => {
    await assertReadFails(readExcel, workbookFile, 'SourceFormatError', /^book\.xlsx: has 2 visible sheets \("Notes", "Data"\): ambiguous; name the one to read/);
  });

  void test('a missing sheet names the file and the sheets that exist', async () => {
    await assertReadFails(readExcel, workbookFile, 'SourceFormatError', /^book\.xlsx: has no sheet named "Sheet1"; its sheets are "Notes", "Data"$/, 'Sheet1');
  });

  void test('a value to the right of the header', async () => {
    await assertReadFails(readExcel, path.join(dir, 'wide.xlsx'), 'SourceFormatError', /^wide\.xlsx: row 2 \(sheet "Wide" cell C3\) has a value in a column without a header$/);
  });

  void test('an empty sheet', async () => {
    await assertReadFails(readExcel, path.join(dir, 'empty-sheet.xlsx'), 'SourceFormatError', /^empty-sheet\.xlsx: sheet "Nothing" is empty/);
  });

  void test('a file that is not a workbook', async () => {
    const csv = await fixture('not-excel.xlsx', 'a,b\n1,2\n');
    await assertReadFails(readExcel, csv, 'SourceFormatError', /^not-excel\.xlsx: is not/);
  });
});

void describe('Parquet reader', () => {
  void test('reads row group by row group', async () => {
    const n = 2500;
    const file = path.join(dir, 'groups.parquet');
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'id', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i + 1)), type: 'INT64' },
        { name: 'label', data: Array.from({ length: n }, (_, i) => `label ${i + 1}`), type: 'STRING' },
      ],
      rowGroupSize: 1000,
    });
    const { header, records } = await readAll(readParquet, file);
    assert.deepEqual(header, ['id', 'label']);
    assert.equal(records.length, n);
    assert.deepEqual(records[0], { row: 1, values: { id: 1n, label: 'label 1' } });
    assert.deepEqual(records[1000], { row: 1001, values: { id: 1001n, label: 'label 1001' } });
    assert.deepEqual(records[n - 1], { row: n, values: { id: BigInt(n), label: `label ${n}` } });
  });

  void test('not a Parquet file', async () => {
    const file = await fixture('fake.parquet', 'customer_id,first_name\n1,Adam\n');
    await assertReadFails(readParquet, file, 'SourceFormatError', /^fake\.parquet: is not a Parquet file/);
    const tiny = await fixture('tiny.parquet', 'PAR1');
    await assertReadFails(readParquet, tiny, 'SourceFormatError', /^tiny\.parquet: is not a Parquet file/);
  });

  void test('a truncated Parquet file', async () => {
    const bytes = await readFile(path.join(APPAREL, 'customers.parquet'));
    const file = await fixture('truncated.parquet', bytes.subarray(0, bytes.length - 100));
    await assertReadFails(readParquet, file, 'SourceFormatError', /^truncated\.parquet: is not a Parquet file/);
  });
});

void describe('every reader', () => {
  for (const format of ['csv', 'excel', 'json', 'parquet'] as const) {
    void test(`${format}: a missing file is SourceFileMissing naming the file`, async () => {
      const file = path.join(dir, `nope-${format}.dat`);
      await assert.rejects(
        () => readerFor(format)(file, { displayName: `inbox/nope.${format}` }),
        (err: unknown) => {
          assert.ok(err instanceof InputError);
          assert.equal(err.type, 'SourceFileMissing');
          assert.match(err.message, /^source file inbox\/nope\.\w+ not found/);
          return true;
        },
      );
    });
  }

  void test('readerFor maps each format to its reader', () => {
    assert.equal(readerFor('csv'), readCsv);
    assert.equal(readerFor('excel'), readExcel);
    assert.equal(readerFor('json'), readJson);
    assert.equal(readerFor('parquet'), readParquet);
  });
});
