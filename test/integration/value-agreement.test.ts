import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type pg from 'pg';
import { checkDate, checkInt, checkNumeric, checkText, checkTimestamp, parsed } from '../../src/ingest/csv/fast-validate';
import { formatTimestamp } from '../../src/ingest/copy';
import { formatDate } from '../../src/ingest/encode';
import { col } from '../../src/sources/columns';
import type { ColumnKind, ColumnSpec } from '../../src/sources/types';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// Issue 9, "a value is stored as written or refused": for generated CSV cells of every column kind, the two gudang
// paths (the hand-written fast path, src/ingest/csv/fast-validate.ts, and the zod schema, src/sources/columns.ts)
// and PostgreSQL's own input function (what COPY does with the cell) agree:
// - zod rejects  => the fast path rejects too (it never vouches for what zod refuses);
// - zod accepts  => PostgreSQL takes the value zod stores, and stores exactly what it stores when it reads the cell
//                   as written (nothing rounded, normalised, moved into another century; text is trimmed, by design);
//                   when the fast path accepts,
//                   it ships the cell's bytes as they are, so PostgreSQL stores that same value again;
// - PostgreSQL cannot read the cell => neither gudang path accepts it.
// Real PostgreSQL, a database of its own.

let db: TestDatabase;
let client: pg.PoolClient;

before(async () => {
  db = await createTestDatabase('gudang_values');
  client = await db.pool.connect();
});

after(async () => {
  client?.release();
  await db?.drop();
});

/** PostgreSQL's reading of `text` as `type`, printed back as text; undefined when it refuses it. */
async function pgRead(text: string, type: string): Promise<string | undefined> {
  if (text.includes('\u0000')) return undefined; // PostgreSQL text cannot hold NUL at all
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT ($1::${type})::text AS v`, [text]);
    return rows[0]!.v;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('22')) return undefined; // data exception: PostgreSQL refuses the value
    throw err;
  }
}

/** What gudang sends PostgreSQL for a validated value (src/ingest/encode.ts csvField, without the CSV quoting). */
function storedText(value: unknown, kind: ColumnKind): string {
  if (value instanceof Date) return kind === 'date' ? formatDate(value) : formatTimestamp(value);
  return String(value);
}

const FAST = { int: checkInt, numeric: checkNumeric, text: checkText, timestamp: checkTimestamp, date: checkDate } as const;

/** Cells the fast path ever sees unquoted: no quote, comma or control byte (anything else goes through zod). */
const fastPathCell = (s: string) => s.length > 0 && ![...s].some((c) => c === '"' || c === ',' || c.charCodeAt(0) < 32 || c === '\u007f');

async function agree(kind: Exclude<ColumnKind, 'custom'>, column: ColumnSpec, cell: string): Promise<void> {
  const z = column.schema.safeParse(cell);
  const buf = Buffer.from(cell, 'utf8');
  const fast = fastPathCell(cell) && FAST[kind](buf, 0, buf.length);
  const fastValue = kind === 'int' || kind === 'numeric' ? parsed.number : kind === 'timestamp' || kind === 'date' ? parsed.time : undefined;
  // text is stored trimmed (a documented choice, the same on both paths); every other kind PostgreSQL trims itself
  const asWritten = await pgRead(kind === 'text' ? cell.trim() : cell, column.pgType);
  const what = `${kind} cell ${JSON.stringify(cell)}`;
  if (!z.success || z.data === null) {
    assert.equal(fast, false, `${what}: zod rejects it, the fast path accepted it`);
    return;
  }
  const stored = await pgRead(storedText(z.data, kind), column.pgType);
  assert.notEqual(stored, undefined, `${what}: zod accepts ${JSON.stringify(storedText(z.data, kind))}, PostgreSQL refuses it`);
  assert.notEqual(asWritten, undefined, `${what}: zod accepts it, PostgreSQL cannot read it as written`);
  assert.equal(stored, asWritten, `${what}: zod stores ${stored}, the cell as written is ${asWritten}`);
  if (fast) {
    // the fast path's own reading of the cell is zod's (it feeds the cross-column rules)
    if (kind === 'int' || kind === 'numeric') assert.equal(fastValue, Number(z.data), `${what}: fast path read ${fastValue}`);
    if (kind === 'timestamp' || kind === 'date') assert.equal(fastValue, (z.data as Date).getTime(), `${what}: fast path read ${fastValue}`);
  }
}

// Generators: strings near each kind's syntax (signs, spaces, leading zeros, fractions, exponents, out-of-range
// fields, separators), plus arbitrary text.
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const pad = fc.constantFrom('', '', '', ' ', '  ', '\t');
const sign = fc.constantFrom('', '', '-', '+', '--');
const anyText = fc.string({ unit: 'binary', maxLength: 12 });

const intCell = fc.oneof(
  fc.tuple(pad, sign, digits(1, 22), pad).map((p) => p.join('')),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
  fc.constantFrom('0x10', '1e3', '1.0', '1_000', '٣', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-0', '007'),
  anyText,
);
const numericCell = fc.oneof(
  fc.tuple(pad, sign, digits(0, 20), fc.constantFrom('', '.', ','), digits(0, 20), fc.constantFrom('', 'e', 'E', 'e-', 'e+'), digits(0, 4), pad).map((p) =>
    p.join(''),
  ),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e1000', '1e-1000', '1e1001', '.5', '5.', '0.000001', '0.0000001', '12345678901234567890.123456789'),
  anyText,
);
const textCell = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.tuple(pad, fc.string({ maxLength: 6 }), pad).map((p) => p.join('')), anyText);
const field = (n: number) => fc.oneof(digits(n, n), digits(n, n), digits(Math.max(1, n - 1), n + 1));
const dateCell = fc.oneof(
  fc.tuple(pad, field(4), fc.constantFrom('-', '-', '/'), field(2), fc.constantFrom('-', '-', '/'), field(2), pad).map((p) => p.join('')),
  fc.date({ min: new Date(Date.UTC(-300, 0, 1)), max: new Date(Date.UTC(12000, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  fc.constantFrom('2022-02-29', '2024-02-29', '0999-12-31', '0001-01-01', '0000-01-01', '10000-01-01', '2022-1-5', '20220105'),
  anyText,
);
const timeCell = fc
  .tuple(fc.constantFrom(' ', 'T', ' ', 't', '  '), field(2), fc.constantFrom(':', ':', '.'), field(2), fc.option(fc.tuple(fc.constantFrom(':', ':'), field(2)), { nil: undefined }),
    fc.option(fc.tuple(fc.constant('.'), digits(1, 8)), { nil: undefined }), fc.constantFrom('', '', '', 'Z', '+07', ' UTC'))
  .map(([sep, h, c1, m, sec, frac, tz]) => `${sep}${h}${c1}${m}${sec ? sec.join('') : ''}${frac ? frac.join('') : ''}${tz}`);
const timestampCell = fc.oneof(
  fc.tuple(dateCell, fc.option(timeCell, { nil: '' })).map(([d, t]) => `${d}${t}`),
  fc.constantFrom('2022-01-01 24:00', '2022-01-01 23:60', '2022-01-01 23:59:60', '2022-01-01 10:00:00.1230', '2022-01-01 10:00:00.1234', '0999-12-31 23:59:59.999'),
);

const CASES: [Exclude<ColumnKind, 'custom'>, ColumnSpec, fc.Arbitrary<string>][] = [
  ['int', col.int(), intCell],
  ['numeric', col.numeric(), numericCell],
  ['text', col.text(), textCell],
  ['date', col.date(), dateCell],
  ['timestamp', col.timestamp(), timestampCell],
];

void describe('fast path, zod and PostgreSQL agree on every CSV value (property test)', () => {
  for (const [kind, column, cells] of CASES) {
    void test(`${kind} columns`, async () => {
      await fc.assert(fc.asyncProperty(cells, (cell) => agree(kind, column, cell)), { numRuns: Number(process.env.GUDANG_PROPERTY_RUNS ?? 400) });
    });
  }

  void test('the generators reach every outcome: accepted by both paths, by zod only, by neither', async () => {
    // a property test that never sees an accepted value would prove nothing
    for (const [kind, column, cells] of CASES) {
      const seen = new Set<string>();
      for (const cell of fc.sample(cells, { numRuns: 400, seed: 9 })) {
        const z = column.schema.safeParse(cell);
        const buf = Buffer.from(cell, 'utf8');
        const fast = fastPathCell(cell) && FAST[kind](buf, 0, buf.length);
        seen.add(!z.success || z.data === null ? 'rejected' : fast ? 'fast' : 'zod');
      }
      assert.deepEqual([...seen].sort(), ['fast', 'rejected', 'zod'], `${kind}: outcomes seen ${[...seen].join(', ')}`);
    }
  });
});
