import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { InputError } from '../../src/errors';
import { formatRejectBudget, parseRejectBudget, withinBudget } from '../../src/ingest/budget';
import type { RejectedRow } from '../../src/ingest/batch';
import { planCsvChunks, probeCsvHeader } from '../../src/ingest/csv/plan';
import { csvLayout } from '../../src/ingest/csv/layout';
import { CsvRowProcessor } from '../../src/ingest/csv/rows';
import { RecordScanner } from '../../src/ingest/csv/scan';
import { col, defineSource } from '../../src/sources/columns';

const spec = defineSource({
  name: 'things',
  file: 'things.csv',
  format: 'csv',
  columns: {
    id: col.int(),
    name: col.text(),
    amount: col.optional(col.numeric()),
    seen_at: col.optional(col.timestamp()),
  },
  primaryKey: ['id'],
  refine: (row) => ((row.amount as number | null) !== null && (row.amount as number) < 0 ? [{ column: 'amount', message: 'must not be negative' }] : []),
});
const HEADER = ['id', 'name', 'amount', 'seen_at'];

interface Run {
  /** What went to COPY, as text. */
  copy: string;
  /** What went to COPY, parsed back as CSV (what PostgreSQL would read). */
  rows: string[][];
  rejects: RejectedRow[];
  rowsRead: number;
  rowsLoaded: number;
  pieces: number;
}

/** Feeds `data` to a processor in blocks of `block` bytes (carrying incomplete records over), as the loader does. */
function run(data: string | Buffer, block = 1 << 20, header = HEADER, rowKeysChunk?: number): Run {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const p = new CsvRowProcessor(csvLayout(spec, header, 'things.csv'), rowKeysChunk);
  p.startCopy();
  const out: Buffer[] = [];
  let pieces = 0;
  let pos = 0;
  let carry = Buffer.alloc(0);
  for (;;) {
    const take = Math.min(block, buf.length - pos);
    const b = Buffer.concat([carry, buf.subarray(pos, pos + take)]);
    pos += take;
    const last = pos >= buf.length;
    const consumed = p.process(b, 0, b.length, last, pos - b.length);
    const taken = p.takePieces();
    out.push(...taken);
    pieces += taken.length;
    carry = b.subarray(consumed);
    if (last) {
      assert.equal(carry.length, 0, 'everything consumed at the end');
      break;
    }
  }
  const copy = Buffer.concat(out).toString('utf8');
  const rows = copy === '' ? [] : (parse(copy, { relax_column_count: true }) as string[][]);
  return { copy, rows, rejects: p.rejects, rowsRead: p.rowsRead, rowsLoaded: p.rowsLoaded, pieces };
}

void describe('CSV row processor', () => {
  void test('clean rows go to COPY byte for byte, in a few large slices', () => {
    const data = Array.from({ length: 1000 }, (_, i) => `${i + 1},name ${i + 1},${i}.5,2022-01-0${(i % 9) + 1} 10:00:00.000\n`).join('');
    const r = run(data);
    assert.equal(r.copy, data);
    assert.equal(r.rowsRead, 1000);
    assert.equal(r.rowsLoaded, 1000);
    assert.equal(r.rejects.length, 0);
    assert.ok(r.pieces <= 2, `one slice for a clean block, got ${r.pieces}`);
  });

  void test('CRLF and LF mixed: every line written with the line end the COPY stream started with', () => {
    const r = run('1,a,,\r\n2,b,,\n3,c,,\r\n4,d,,');
    assert.equal(r.copy, '1,a,,\r\n2,b,,\r\n3,c,,\r\n4,d,,\r\n');
    assert.equal(r.rowsLoaded, 4);
  });

  void test('quoted fields with commas, doubled quotes and line breaks are decoded, validated and re-encoded', () => {
    const r = run('1,"Smith, John",1,\n2,"said ""hi""",,\n3,"two\r\nlines",2.5,\n4,plain,,\n');
    assert.deepEqual(r.rows, [
      ['1', 'Smith, John', '1', ''],
      ['2', 'said "hi"', '', ''],
      ['3', 'two\r\nlines', '2.5', ''],
      ['4', 'plain', '', ''],
    ]);
    assert.equal(r.rowsRead, 4);
  });

  void test('cells zod trims are written trimmed; values PostgreSQL reads as zod does pass as written', () => {
    const r = run(' 7 ,  padded\t,40000.50,2022-01-01T10:30\n');
    assert.deepEqual(r.rows, [['7', 'padded', '40000.50', '2022-01-01T10:30']]);
    assert.equal(r.copy, '7,padded,40000.50,2022-01-01T10:30\n');
    assert.equal(r.rowsLoaded, 1);
    const blank = run('8,x,  ,\n');
    assert.equal(blank.copy, '8,x,,\n', 'a blank optional cell becomes NULL (an unquoted empty field)');
  });

  void test('what only zod can read is decoded by csv-parse, validated and re-encoded as zod has it', () => {
    const r = run('"9",plain,1e3,2022-01-01 10:30:00.1230\n10,x,"5",\n');
    assert.deepEqual(r.rows, [
      ['9', 'plain', '1e3', '2022-01-01 10:30:00.123'],
      ['10', 'x', '5', ''],
    ]);
    assert.equal(r.rowsLoaded, 2);
  });

  void test('a Superstore-like line: quoted names pass as written, month-first dates become ISO dates', () => {
    const store = defineSource({
      name: 'store',
      file: 'store.csv',
      format: 'csv',
      columns: {
        id: col.int(),
        ordered: col.date({ formats: ['MM-DD-YY', 'M/D/YYYY'] }),
        name: col.text(),
        sales: col.numeric(),
      },
      primaryKey: ['id'],
      refine: (row) => ((row.name as string).includes('bad') ? [{ column: 'name', message: 'no bad names' }] : []),
    });
    const p = new CsvRowProcessor(csvLayout(store, ['id', 'ordered', 'name', 'sales'], 'store.csv'));
    p.startCopy();
    const data =
      '1,11-08-16,"Chairs, Rounded Back",731.94\r\n' +
      '2,2/26/2017,"Shelving: 72""H x 36""W",14.620\r\n' +
      '3,2017-02-26,plain,1\r\n' +
      '4,2/30/2017,impossible,1\r\n' +
      '5,12-31-69,"a ""bad"" name",1\r\n' +
      '6,02-29-16, "padded quoted",1\r\n';
    const buf = Buffer.from(data);
    p.process(buf, 0, buf.length, true, 0);
    const copy = Buffer.concat(p.takePieces()).toString();
    assert.equal(
      copy,
      '1,2016-11-08,"Chairs, Rounded Back",731.94\r\n2,2017-02-26,"Shelving: 72""H x 36""W",14.620\r\n3,2017-02-26,plain,1\r\n',
    );
    assert.deepEqual(
      p.rejects.map((x) => [x.row, x.errors]),
      [
        [4, ['column ordered: expected a date (YYYY-MM-DD, MM-DD-YY, M/D/YYYY) (got "2/30/2017")']],
        [5, ['column name: no bad names (got "a \\"bad\\" name")']],
        [6, ['column name: a double quote inside an unquoted field (quote the whole field and double the quote: "12"" pizza")']],
      ],
    );
  });

  void test('an unquoted empty field is NULL, a quoted empty one is text; a required blank is rejected', () => {
    const r = run('1,x,,\n2,,,\n');
    assert.equal(r.rowsLoaded, 1);
    assert.equal(r.rejects.length, 1);
    assert.deepEqual(r.rejects[0]!.errors, ['column name: a value is required (got (blank))']);
    assert.deepEqual(r.rejects[0]!.kinds, ['name: a value is required']);
    assert.equal(r.rejects[0]!.row, 2);
  });

  void test('wrong types, negative amounts (cross-column rule) and unparseable timestamps: every reason, row by row', () => {
    const r = run('1,ok,1,\nx,bad id,1,\n3,neg,-5,\n4,when,1,yesterday\n5,both,abc,nope\n');
    assert.equal(r.rowsLoaded, 1);
    assert.deepEqual(
      r.rejects.map((x) => [x.row, x.errors]),
      [
        [2, ['column id: expected an integer (got "x")']],
        [3, ['column amount: must not be negative (got "-5")']],
        [4, ['column seen_at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]]) (got "yesterday")']],
        [5, ['column amount: expected a number (got "abc")', 'column seen_at: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]]) (got "nope")']],
      ],
    );
    assert.deepEqual(r.rejects[0]!.raw, { id: 'x', name: 'bad id', amount: '1', seen_at: '' });
  });

  void test('a stray quote or text after a closing quote rejects that row only', () => {
    const r = run('1,12" pizza,,\n2,"ok"x,,\n3,fine,,\n');
    assert.deepEqual(
      r.rejects.map((x) => [x.row, x.kinds]),
      [
        [1, ['bad quoting']],
        [2, ['bad quoting']],
      ],
    );
    assert.match(r.rejects[0]!.errors[0]!, /column name: a double quote inside an unquoted field/);
    assert.match(r.rejects[1]!.errors[0]!, /column name: text after the closing quote/);
    assert.deepEqual(r.rows, [['3', 'fine', '', '']]);
  });

  void test('a truncated last line (no line end, fields missing) and an unclosed quote at the end', () => {
    const r = run('1,a,,\n2,b');
    assert.deepEqual(r.rejects.map((x) => [x.row, x.errors]), [[2, ['has 2 field(s) but the header has 4 (the last line of the file looks truncated)']]]);
    const q = run('1,a,,\n2,"never closed,,\n3,c,,\n');
    assert.deepEqual(q.rejects.map((x) => [x.row, x.kinds]), [[2, ['unclosed quoted field']]]);
    assert.equal(q.rowsRead, 2, 'the open quote swallows the rest of the file into row 2');
  });

  void test('extra and missing fields', () => {
    const r = run('1,a,,,surplus\n2,b\n');
    assert.deepEqual(r.rejects.map((x) => x.errors[0]), ['has 5 field(s) but the header has 4', 'has 2 field(s) but the header has 4']);
    assert.deepEqual(r.rejects[0]!.raw, { id: '1', name: 'a', amount: '', seen_at: '', '(extra field 5)': 'surplus' });
  });

  void test('bytes that are not UTF-8 reject their row, naming the byte and its file offset', () => {
    const data = Buffer.concat([Buffer.from('1,ok,,\n2,Bogot'), Buffer.from([0xe1]), Buffer.from(',,\n3,fine,,\n')]);
    const r = run(data);
    assert.equal(r.rowsLoaded, 2);
    assert.equal(r.rejects.length, 1);
    assert.equal(r.rejects[0]!.row, 2);
    assert.match(r.rejects[0]!.errors[0]!, /^not valid UTF-8 text: byte 0xE1 at byte offset 14 of the file/);
    assert.equal(r.rejects[0]!.raw.name, 'Bogot\ufffd');
  });

  void test('a NUL byte rejects its row', () => {
    const r = run('1,a\u0000b,,\n2,ok,,\n');
    assert.deepEqual(r.rejects.map((x) => x.errors[0]), ['column name: contains a NUL byte (binary data?)']);
  });

  void test('accented UTF-8 passes through untouched', () => {
    const r = run('1,Bogotá,,\n2,São Paulo,,\n3,日本語 🙂,,\n');
    assert.equal(r.rowsLoaded, 3);
    assert.deepEqual(r.rows.map((x) => x[1]), ['Bogotá', 'São Paulo', '日本語 🙂']);
  });

  void test('blank lines are skipped and not counted', () => {
    const r = run('1,a,,\n\n\r\n2,b,,\n\n');
    assert.equal(r.rowsRead, 2);
    assert.equal(r.copy, '1,a,,\n2,b,,\n');
  });

  void test('a single-column line "\\." (the end-of-data marker of COPY) is quoted', () => {
    const one = defineSource({ name: 'one', file: 'one.csv', format: 'csv', columns: { v: col.text() }, primaryKey: ['v'] });
    const p = new CsvRowProcessor(csvLayout(one, ['v'], 'one.csv'));
    p.startCopy();
    const buf = Buffer.from('a\n\\.\nb\n');
    p.process(buf, 0, buf.length, true, 0);
    assert.equal(Buffer.concat(p.takePieces()).toString(), 'a\n"\\."\nb\n');
  });

  void test('row-keys mode appends the chunk, the row number and the chunk line to every line', () => {
    const r = run('1,a,,\n2,"b",,\n', 1 << 20, HEADER, 3);
    assert.equal(r.copy, '1,a,,,3,1,1\n"2","b",,,3,2,2\n'.replace('"2"', '2'));
    // lines, not rows: a blank line, a quoted line break (re-encoded by the slow path), a trimmed cell
    const lines = run('1,a,,\n\n2,"c\nd",,\n 3 ,e,,\n', 1 << 20, HEADER, 0);
    assert.equal(lines.copy, '1,a,,,0,1,1\n2,"c\nd",,,0,2,3\n3,e,,,0,3,5\n');
  });

  void test('the header may list the columns in any order: COPY follows the file', () => {
    const r = run('a,,,5\n', 1 << 20, ['name', 'seen_at', 'amount', 'id']);
    assert.equal(r.copy, 'a,,,5\n');
  });

  void test('many rewritten and re-encoded lines (more than one output buffer) come out whole and in order', () => {
    const lines: string[] = [];
    const expected: string[][] = [];
    for (let i = 1; i <= 30_000; i++) {
      const kind = i % 3;
      lines.push(kind === 0 ? `${i},plain ${i},${i}.5,` : kind === 1 ? ` ${i} ,trimmed ${i},,` : `"${i}",zod ${i},1e2,`);
      expected.push([String(i), kind === 0 ? `plain ${i}` : kind === 1 ? `trimmed ${i}` : `zod ${i}`, kind === 0 ? `${i}.5` : kind === 1 ? '' : '1e2', '']);
    }
    const r = run(lines.join('\n') + '\n', 64 * 1024);
    assert.equal(r.rowsLoaded, 30_000);
    assert.ok(!r.copy.includes('\u0000'));
    assert.deepEqual(r.rows, expected);
  });

  void test('cutting the input anywhere gives the same rows, rejects and row numbers', () => {
    const data = '1,"a, ""b""\nc",1,\r\n2,x,-1,\r\n\r\n3,"q"z,,\r\n4,é,2.25,2022-01-01\r\n5,short\r\n6,end,,';
    const whole = run(data);
    assert.equal(whole.rowsRead, 6);
    const bytes = Buffer.byteLength(data);
    for (let block = 1; block <= bytes; block++) {
      const r = run(data, block);
      assert.deepEqual(r.rows, whole.rows, `block size ${block}`);
      assert.deepEqual(
        r.rejects.map((x) => [x.row, x.errors]),
        whole.rejects.map((x) => [x.row, x.errors]),
        `block size ${block}`,
      );
    }
  });
});

void describe('record scanner', () => {
  void test('finds fields and line ends, quoted or not', () => {
    const s = new RecordScanner(8);
    const buf = Buffer.from('a,"b,c",\r\nnext');
    const next = s.scan(buf, 0, buf.length, false);
    assert.equal(next, 10);
    assert.equal(s.fields, 3);
    assert.deepEqual([s.fs[1], s.fe[1], s.fq[1]], [2, 7, 1]);
    assert.deepEqual([s.fs[2], s.fe[2]], [8, 8]);
    assert.equal(s.scan(buf, next, buf.length, false), -1, 'the last line is incomplete until the data is known to end');
    assert.equal(s.scan(buf, next, buf.length, true), buf.length);
  });
});

void describe('planning a CSV file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gudang-plan-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, content: string | Buffer): Promise<{ p: string; size: number }> {
    const p = path.join(dir, name);
    await writeFile(p, content);
    return { p, size: Buffer.byteLength(content) };
  }

  async function probeFails(content: string | Buffer, message: RegExp) {
    const f = await file('probe.csv', content);
    await assert.rejects(probeCsvHeader(f.p, 'probe.csv', f.size), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.type, 'SourceFormatError');
      assert.match(err.message, message);
      return true;
    });
  }

  void test('header: BOM, quotes, blank lines before it; data starts after it', async () => {
    const f = await file('h.csv', '\uFEFF\n id ,"name",amount,seen_at\r\n1,a,,\r\n');
    const h = await probeCsvHeader(f.p, 'h.csv', f.size);
    assert.deepEqual(h.header, HEADER);
    assert.equal(h.dataStart, Buffer.byteLength('\uFEFF\n id ,"name",amount,seen_at\r\n'));
  });

  void test('files that are not CSV text say what they look like', async () => {
    await probeFails('', /probe\.csv: is empty: expected a header row/);
    await probeFails('\n\n', /is empty/);
    await probeFails(Buffer.from('PK\u0003\u0004\u0014\u0000', 'latin1'), /is a zip archive \(an Excel \.xlsx workbook\?\), not CSV text/);
    await probeFails(Buffer.from('PAR1\u0000\u0000', 'latin1'), /is a Parquet file/);
    await probeFails(Buffer.from('\uFEFFa,b\r\n1,2\r\n', 'utf16le'), /is UTF-16 text/);
    await probeFails(Buffer.from([0x61, 0x2c, 0x00, 0x62, 0x0a]), /contains a NUL byte at byte offset 2/);
    await probeFails(Buffer.concat([Buffer.from('na'), Buffer.from([0xe9]), Buffer.from('me\n')]), /is not valid UTF-8 text \(header row, byte offset 2\)/);
    await probeFails('a,b\r1,2\r3,4\r', /bare CR line ends/);
  });

  async function chunkedEqualsWhole(content: string, chunkBytes: number) {
    const f = await file('c.csv', `${HEADER.join(',')}\n${content}`);
    const { dataStart } = await probeCsvHeader(f.p, 'c.csv', f.size);
    const chunks = await planCsvChunks(f.p, f.size, dataStart, chunkBytes);
    const bytes = Buffer.from(`${HEADER.join(',')}\n${content}`);
    assert.equal(chunks[0]!.byteStart, dataStart);
    assert.equal(chunks[chunks.length - 1]!.byteEnd, f.size);
    const whole = run(bytes.subarray(dataStart));
    let rows: string[][] = [];
    let read = 0;
    for (const [k, c] of chunks.entries()) {
      if (k > 0) assert.equal(c.byteStart, chunks[k - 1]!.byteEnd);
      const r = run(bytes.subarray(c.byteStart, c.byteEnd));
      rows = rows.concat(r.rows);
      read += r.rowsRead;
    }
    assert.equal(read, whole.rowsRead);
    assert.deepEqual(rows, whole.rows);
    return chunks;
  }

  void test('without quotes: chunks cut at line starts', async () => {
    const content = Array.from({ length: 500 }, (_, i) => `${i},n${i},,\n`).join('');
    const chunks = await chunkedEqualsWhole(content, 997);
    assert.ok(chunks.length >= 5);
  });

  void test('with quoted line breaks: never cut inside a quoted field', async () => {
    const content = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? `${i},"multi\nline ${i}, with ""quotes""",,\n` : `${i},plain,,\n`)).join('');
    for (const size of [17, 101, 997]) {
      const chunks = await chunkedEqualsWhole(content, size);
      assert.ok(chunks.length > 3);
    }
  });

  void test('a stray quote does not swallow the lines after it when planning', async () => {
    const content = Array.from({ length: 200 }, (_, i) => (i === 10 ? `${i},12" pizza,,\n` : `${i},p,,\n`)).join('');
    await chunkedEqualsWhole(content, 113);
  });
});

void describe('reject budgets', () => {
  void test('N rows or P% of rows read', () => {
    assert.deepEqual(parseRejectBudget('0'), { kind: 'rows', rows: 0 });
    assert.deepEqual(parseRejectBudget(' 25 '), { kind: 'rows', rows: 25 });
    assert.deepEqual(parseRejectBudget('1.5%'), { kind: 'percent', percent: 1.5 });
    assert.deepEqual(parseRejectBudget('100%'), { kind: 'percent', percent: 100 });
    assert.equal(formatRejectBudget(parseRejectBudget('2.5 %')), '2.5%');
    for (const bad of ['-1', '1.5', '101%', 'abc', '', '%', '1e3']) {
      assert.throws(() => parseRejectBudget(bad, '--reject-budget'), (err: unknown) => err instanceof InputError && err.type === 'ConfigError' && /--reject-budget/.test(err.message));
    }
  });

  void test('within budget', () => {
    assert.equal(withinBudget(parseRejectBudget('0'), 0, 100), true);
    assert.equal(withinBudget(parseRejectBudget('0'), 1, 100), false);
    assert.equal(withinBudget(parseRejectBudget('3'), 3, 10), true);
    assert.equal(withinBudget(parseRejectBudget('10%'), 10, 100), true);
    assert.equal(withinBudget(parseRejectBudget('10%'), 11, 100), false);
    assert.equal(withinBudget(parseRejectBudget('0.5%'), 1, 200), true);
    assert.equal(withinBudget(parseRejectBudget('0.5%'), 2, 200), false);
  });

  void test('a source definition checks its budget', () => {
    assert.throws(
      () => defineSource({ name: 'x', file: 'x.csv', format: 'csv', columns: { id: col.int() }, primaryKey: ['id'], rejectBudget: '5 rows' as never }),
      /source x: rejectBudget/,
    );
  });
});
