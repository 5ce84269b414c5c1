import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { csvField } from '../../src/ingest/encode';
import { checkDate, checkDecimal, checkQuotedText, checkInt, checkNumeric, checkText, checkTimestamp, compileDateFormat, isoShaped, matchDateFormats, parsed } from '../../src/ingest/csv/fast-validate';
import { col } from '../../src/sources/columns';
import type { ColumnSpec } from '../../src/sources/types';

// The fast path's promise: whenever a hand-written check accepts a cell, zod (the source of truth) accepts it too,
// and PostgreSQL, reading the cell's bytes as they are, stores the value zod would have stored. Checked here on
// hand-picked edge cases and on a few thousand random strings per kind.

/** A tiny deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(r: () => number, alphabet: string, maxLen: number): string {
  const n = Math.floor(r() * (maxLen + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}

type Check = (buf: Buffer, s: number, e: number) => boolean;

/** zod's verdict on one cell and the CSV field it would be written as. */
function zodCell(spec: ColumnSpec, text: string): { ok: boolean; value?: unknown } {
  const r = spec.schema.safeParse(text);
  return r.success ? { ok: true, value: r.data } : { ok: false };
}

/**
 * The PostgreSQL value of the raw text vs the zod value, compared the way PostgreSQL would store them.
 * Numbers: numeric equality of the decimal texts (PostgreSQL numeric keeps the written scale, so the text must be
 * exactly String(Number(text))); timestamps: same instant; text: same string.
 */
function assertSameStored(kind: string, text: string, zodValue: unknown) {
  if (kind === 'int') assert.equal(BigInt(text), BigInt(zodValue as number), text);
  else if (kind === 'numeric') assert.equal(csvField(zodValue, 'numeric'), `"${text}"`, `${text}: zod keeps the decimal text as written, as PostgreSQL does`);
  else if (kind === 'text') assert.equal(text, zodValue);
  else if (kind === 'timestamp' || kind === 'date') {
    const d = zodValue as Date;
    const iso = text.replace('T', ' ');
    const [date, time = '00:00'] = iso.split(' ');
    const [hh, mm, ss = '0'] = time!.split(':');
    const [y, m, dd] = date!.split('-').map(Number);
    const expected = Date.UTC(y!, m! - 1, dd!, Number(hh), Number(mm), 0, Math.round(Number(ss) * 1000));
    assert.equal(d.getTime(), expected, text);
  }
}

/** Date-like strings: plausible parts with out-of-range values, odd separators and fraction lengths mixed in. */
function randomDateLike(r: () => number, withTime: boolean): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const n = (lo: number, hi: number, w: number) => String(lo + Math.floor(r() * (hi - lo + 1))).padStart(w, '0');
  let s = `${pick([n(1899, 2100, 4), n(0, 99, 4), n(0, 99, 2)])}-${n(0, 13, pick([1, 2]))}-${n(0, 32, pick([2, 2, 1]))}`;
  if (withTime && r() < 0.7) {
    s += `${pick([' ', 'T', '  '])}${n(0, 25, 2)}:${n(0, 61, 2)}`;
    if (r() < 0.7) s += `:${n(0, 61, 2)}`;
    if (r() < 0.5) s += `.${n(0, 999999, pick([1, 2, 3, 4, 6]))}`;
  }
  return s;
}

function property(kind: string, spec: ColumnSpec, check: Check, alphabet: string, maxLen: number, extra: string[], setsNumber = true) {
  const r = rng(kind.length * 7919);
  const cases = [...extra];
  for (let i = 0; i < 4000; i++) {
    cases.push(kind === 'timestamp' || kind === 'date' ? randomDateLike(r, kind === 'timestamp') : randomString(r, alphabet, maxLen));
  }
  let accepted = 0;
  for (const text of cases) {
    const buf = Buffer.from(`,${text},`, 'utf8');
    const fast = check(buf, 1, buf.length - 1);
    if (!fast) continue;
    accepted++;
    const z = zodCell(spec, text);
    assert.ok(z.ok, `fast path accepted ${JSON.stringify(text)} which zod rejects`);
    assertSameStored(kind, text, z.value);
    if (setsNumber && (kind === 'int' || kind === 'numeric')) assert.equal(parsed.number, Number(text), `parsed number of ${text}`);
  }
  assert.ok(accepted > 20, `the fast path accepted only ${accepted} ${kind} cases: the property says little`);
}

void describe('fast cell checks agree with the zod column schemas', () => {
  void test('int', () => {
    property('int', col.int(), checkInt, '0123456789-+ .e', 17, ['0', '-0', '007', '-12', '123456789012345', '1234567890123456', '9007199254740993', '1e3', ' 1', '1 ', '+1', '']);
    const b = (s: string) => Buffer.from(s);
    assert.equal(checkInt(b('123456789012345'), 0, 15), true);
    assert.equal(checkInt(b('1234567890123456'), 0, 16), false); // zod decides (safe, but 16 digits)
    assert.equal(checkInt(b('-0'), 0, 2), false);
  });

  void test('numeric', () => {
    property('numeric', col.numeric(), checkNumeric, '0123456789-.', 18, [
      '0', '0.5', '-0.5', '40000', '40000.5', '40000.50', '0.000001', '0.0000001', '1.', '.5', '00.1', '123456789012345', '1234567890123456',
      '0.1234567890123456', '999999999999999.9', '-0', '-0.0', '1e5',
    ]);
    const ok = (s: string) => checkNumeric(Buffer.from(s), 0, s.length);
    assert.equal(ok('40000.50'), false, 'not the canonical form the fast path vouches for: zod has it (and keeps it as written)');
    assert.equal(ok('0.000001'), true);
    assert.equal(ok('0.0000001'), false, 'String(1e-7) is "1e-7"');
  });

  void test('text', () => {
    property('text', col.text(), checkText, 'ab é"\\\t,x\u00a0\u2009\u3000\ufeff”\u0085', 6, ['a', ' a', 'a ', '\u00a0a', 'é', 'a b', '"', 'a\u2028', '\u205fa', '5 3/6” x 11”']);
    const quoted = (s: string) => {
      const b = Buffer.from(`"${s.replace(/"/g, '""')}"`);
      return checkQuotedText(b, 0, b.length);
    };
    assert.equal(quoted('Shelving, 72"H x 36"W'), true);
    assert.equal(quoted('"quoted"'), true);
    assert.equal(quoted(' padded'), false, 'zod trims it; PostgreSQL would keep the space');
    assert.equal(quoted(''), false, 'zod: blank; PostgreSQL: an empty string');
    assert.equal(quoted('two\nlines'), false);
    assert.equal(checkText(Buffer.from('x'), 0, 0), false, 'empty is never the fast path (required: error; optional: NULL by PostgreSQL)');
  });

  void test('timestamp', () => {
    property('timestamp', col.timestamp(), checkTimestamp, '0123456789- :T.', 24, [
      '2022-01-01', '2022-01-01 00:00:00.000', '2022-02-29', '2024-02-29 23:59:59.999', '2022-13-01', '2022-01-01T10:30', '2022-01-01 10:60',
      '2022-01-01 24:00', '0099-01-01', '2022-01-01 00:00:00.1234', '2022-1-1', '2022-01-01 00:00:00.5',
    ]);
  });

  void test('any plain decimal (kept as written by zod and by PostgreSQL)', () => {
    property('numeric', col.numeric(), checkDecimal, '0123456789-+.eE', 12, ['40000.50', '+1', '.5', '5.', '.', '1e5', '1E-3', '-0', '1e', 'e5', '1e1001', '1e1000', '--1', '1.2.3'], false);
    const ok = (s: string) => checkDecimal(Buffer.from(s), 0, s.length);
    assert.equal(ok('9'.repeat(1000)), true);
    assert.equal(ok('9'.repeat(1001)), false, 'zod: number out of range');
    assert.equal(ok('1e1001'), false);
  });

  void test('date formats of a column, in zod\'s order, agree with zod', () => {
    const formats = ['MM-DD-YY', 'M/D/YYYY', 'DD.MM.YYYY', 'YYYYMMDD'];
    const spec = col.date({ formats });
    const matchers = formats.map(compileDateFormat);
    assert.equal(compileDateFormat('MD/YYYY'), undefined, 'a 1-or-2-digit token before a digit needs backtracking: zod decides');
    const r = rng(99);
    const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
    const n = (lo: number, hi: number, w: number) => String(lo + Math.floor(r() * (hi - lo + 1))).padStart(w, '0');
    const cases = ['11-08-16', '2/26/2017', '02/29/2016', '2/29/2017', '12-31-69', '01-01-68', '31.12.1999', '20240229', '20230229', '1/1/0001', '1/1/0000', '13-01-16', '111/1/2017'];
    for (let i = 0; i < 6000; i++) {
      const sep = pick(['-', '/', '.', '']);
      cases.push([n(0, 13, pick([1, 2])), n(0, 32, pick([1, 2])), pick([n(0, 99, 2), n(0, 2100, 4), n(0, 9, 1)])].join(sep), `${n(1990, 2030, 4)}${n(0, 13, 2)}${n(0, 32, 2)}`);
    }
    let accepted = 0;
    for (const text of cases) {
      const buf = Buffer.from(text);
      if (isoShaped(buf, 0, buf.length)) continue;
      const t = matchDateFormats(matchers, buf, 0, buf.length);
      if (t === undefined) continue;
      accepted++;
      const z = spec.schema.safeParse(text);
      assert.ok(z.success, `fast path accepted ${text} which zod rejects`);
      assert.equal((z.data as Date).getTime(), t, text);
      const ymd = parsed.ymd;
      assert.equal(`${String(Math.floor(ymd / 10000)).padStart(4, '0')}-${String(Math.floor(ymd / 100) % 100).padStart(2, '0')}-${String(ymd % 100).padStart(2, '0')}`, (z.data as Date).toISOString().slice(-24, -14).padStart(10, '0'), text);
    }
    assert.ok(accepted > 500, `only ${accepted} dates accepted`);
  });

  void test('date', () => {
    property('date', col.date({ formats: ['MM-DD-YY', 'M/D/YYYY'] }), checkDate, '0123456789-/', 10, ['2016-11-08', '2016-02-30', '11-08-16']);
  });
});

void describe('col.date', () => {
  const spec = col.date({ formats: ['MM-DD-YY', 'M/D/YYYY'] });
  const day = (v: unknown) => {
    const r = spec.schema.safeParse(v);
    return r.success ? (r.data as Date).toISOString().slice(0, 10) : `error: ${r.error.issues[0]!.message}`;
  };

  void test('month-first formats, ISO always, Dates from Excel', () => {
    assert.equal(day('11-08-16'), '2016-11-08');
    assert.equal(day('2/26/2017'), '2017-02-26');
    assert.equal(day('10/11/2014'), '2014-10-11');
    assert.equal(day('2017-02-26'), '2017-02-26');
    assert.equal(day(new Date(Date.UTC(2020, 4, 3, 13, 45))), '2020-05-03');
    assert.equal(day('12-31-69'), '1969-12-31');
    assert.equal(day('01-01-68'), '2068-01-01');
  });

  void test('impossible dates and other formats are rejected, naming the formats', () => {
    assert.equal(day('2/30/2017'), 'error: expected a date (YYYY-MM-DD, MM-DD-YY, M/D/YYYY)');
    assert.equal(day('26/2/2017'), 'error: expected a date (YYYY-MM-DD, MM-DD-YY, M/D/YYYY)');
    assert.equal(day('yesterday'), 'error: expected a date (YYYY-MM-DD, MM-DD-YY, M/D/YYYY)');
  });

  void test('a format without a year, month and day is a programming error', () => {
    assert.throws(() => col.date({ formats: ['MM/DD'] }), /needs a year, a month and a day/);
  });
});
