import type { ColumnKind } from '../../sources/types';

// Hand-written checks of one cell's bytes, by column kind. Each returns true only for text that the column's zod
// schema accepts AND that PostgreSQL, reading the same bytes from COPY (CSV format), stores as the very value the
// zod path would store (or, for a date in one of the column's own formats, a value the loader rewrites as the ISO
// date zod would produce). Anything else (a 16-digit id, a time zone, an impossible date, ...) returns false and the
// row goes through zod, the source of truth, which either accepts and normalises it or rejects it with its full
// message. So the fast path never accepts what zod rejects, and never stores a different value. Spaces around a
// cell are the caller's business (rows.ts trims them as zod does and writes the trimmed bytes).
// test/unit/ingest-fast-validate.test.ts checks that equivalence.

const D0 = 48;
const D9 = 57;
const MINUS = 45;
const DOT = 46;

/**
 * What the last successful check parsed: `number` for int/numeric (exactly Number(text)), `time` for dates and
 * timestamps (epoch ms of the wall-clock time, as the readers' UTC Dates), and `ymd` (y * 10000 + m * 100 + d) for a
 * date matched by compileDateFormat. Read it right after a check.
 */
export const parsed = { number: 0, time: 0, ymd: 0 };

/** Integers: optional minus, 1 to 15 digits (always a safe integer; leading zeros are the same value in both paths). */
export function checkInt(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  let neg = false;
  if (buf[i] === MINUS) {
    neg = true;
    i++;
  }
  const digits = e - i;
  if (digits < 1 || digits > 15) return false;
  let v = 0;
  for (; i < e; i++) {
    const c = buf[i]!;
    if (c < D0 || c > D9) return false;
    v = v * 10 + (c - D0);
  }
  if (neg && v === 0) return false; // "-0": zod's -0 prints as "0"; let zod have it
  parsed.number = neg ? -v : v;
  return true;
}

const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`)); // exact doubles up to 1e22

/**
 * Numerics in the canonical form JavaScript prints them: String(Number(text)) === text. That is: optional minus,
 * no leading zeros, an optional fraction without trailing zeros, at most 15 significant digits, no exponent form
 * (so not below 1e-6). zod stores String(Number(text)); PostgreSQL stores the text; canonical text makes them equal.
 */
export function checkNumeric(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  let neg = false;
  if (buf[i] === MINUS) {
    neg = true;
    i++;
  }
  const intStart = i;
  let mantissa = 0;
  while (i < e) {
    const c = buf[i]!;
    if (c < D0 || c > D9) break;
    mantissa = mantissa * 10 + (c - D0);
    i++;
  }
  const intLen = i - intStart;
  if (intLen === 0 || (intLen > 1 && buf[intStart] === D0)) return false;
  const intIsZero = intLen === 1 && buf[intStart] === D0;
  let fracLen = 0;
  let significant = intIsZero ? 0 : intLen;
  if (i < e) {
    if (buf[i] !== DOT) return false;
    i++;
    const fracStart = i;
    let leadingZeros = 0;
    let seenNonZero = !intIsZero;
    while (i < e) {
      const c = buf[i]!;
      if (c < D0 || c > D9) return false;
      if (!seenNonZero) {
        if (c === D0) leadingZeros++;
        else seenNonZero = true;
      }
      mantissa = mantissa * 10 + (c - D0);
      i++;
    }
    fracLen = i - fracStart;
    if (fracLen === 0 || buf[e - 1] === D0) return false;
    if (intIsZero && leadingZeros >= 6) return false;
    significant += fracLen - (intIsZero ? leadingZeros : 0);
  } else if (neg && intIsZero) {
    return false; // "-0"
  }
  if (significant > 15) return false;
  // mantissa < 10^15 and 10^fracLen are exact doubles: one correctly rounded division gives Number(text) exactly
  const v = fracLen === 0 ? mantissa : mantissa / POW10[fracLen]!;
  parsed.number = neg ? -v : v;
  return true;
}

/**
 * Any plain decimal numeric's column schema accepts (an optional sign, digits with an optional fraction, an optional
 * exponent: "40000.50", "+1", ".5", "1e5"), within its bounds (at most 1000 digits, exponent at most 1000). zod keeps
 * such text as written and PostgreSQL's numeric reads the same text, so the bytes can go to COPY as they are.
 * Unlike checkNumeric it does not set parsed.number.
 */
export function checkDecimal(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  if (buf[i] === MINUS || buf[i] === PLUS) i++;
  const intStart = i;
  while (i < e && buf[i]! >= D0 && buf[i]! <= D9) i++;
  let digits = i - intStart;
  let fracDigits = 0;
  if (i < e && buf[i] === DOT) {
    i++;
    const fracStart = i;
    while (i < e && buf[i]! >= D0 && buf[i]! <= D9) i++;
    fracDigits = i - fracStart;
    digits += fracDigits;
  }
  if (digits === 0 || (i - intStart === 1 && fracDigits === 0 && buf[intStart] === DOT)) return false;
  if (digits > MAX_NUMERIC_DIGITS) return false;
  if (i < e && (buf[i] === 101 || buf[i] === 69)) {
    i++;
    if (i < e && (buf[i] === MINUS || buf[i] === PLUS)) i++;
    const expStart = i;
    let exp = 0;
    while (i < e && buf[i]! >= D0 && buf[i]! <= D9) {
      exp = Math.min(exp * 10 + (buf[i]! - D0), 1e9);
      i++;
    }
    if (i === expStart || exp > MAX_NUMERIC_EXPONENT) return false;
  }
  return i === e;
}

const PLUS = 43;
const MAX_NUMERIC_DIGITS = 1000;
const MAX_NUMERIC_EXPONENT = 1000;

/** Text: non-empty, nothing JavaScript's trim() would remove at either end. Inner bytes are anything valid. */
export function checkText(buf: Buffer, s: number, e: number): boolean {
  if (e <= s) return false;
  return edgeOk(buf, s, e) && edgeOk(buf, lastCharStart(buf, s, e), e);
}

/** Where the last UTF-8 character of buf[s, e) starts. */
function lastCharStart(buf: Buffer, s: number, e: number): number {
  let i = e - 1;
  while (i > s && (buf[i]! & 0xc0) === 0x80 && e - i < 4) i--;
  return i;
}

/**
 * The character at i (valid UTF-8 up to e) is neither a control character nor white space that String.prototype.trim
 * removes: printable ASCII, or a non-ASCII character other than U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000 and U+FEFF.
 */
function edgeOk(buf: Buffer, i: number, e: number): boolean {
  const a = buf[i]!;
  if (a < 128) return a > 32 && a < 127;
  const b = i + 1 < e ? buf[i + 1]! : 0;
  const c = i + 2 < e ? buf[i + 2]! : 0;
  if (a === 0xc2) return b !== 0xa0;
  if (a === 0xe1) return !(b === 0x9a && c === 0x80);
  if (a === 0xe2) return !(b === 0x80 && ((c >= 0x80 && c <= 0x8a) || c === 0xa8 || c === 0xa9 || c === 0xaf)) && !(b === 0x81 && c === 0x9f);
  if (a === 0xe3) return !(b === 0x80 && c === 0x80);
  if (a === 0xef) return !(b === 0xbb && c === 0xbf);
  return true;
}

/**
 * A quoted text cell ("..." with "" for a quote; s at the opening quote, e after the closing one) that PostgreSQL
 * unquotes to what zod keeps: something inside, nothing to trim at its ends, no control bytes.
 */
export function checkQuotedText(buf: Buffer, s: number, e: number): boolean {
  if (e - s < 3) return false;
  for (let i = s + 1; i < e - 1; i++) if (buf[i]! < 32) return false;
  return checkText(buf, s + 1, e - 1);
}

function two(buf: Buffer, i: number): number {
  const a = buf[i]! - D0;
  const b = buf[i + 1]! - D0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function daysIn(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** YYYY-MM-DD with a real calendar date, year 1000-9999. Sets parsed.time. Returns the position after it or -1. */
function datePart(buf: Buffer, s: number, e: number): number {
  if (e - s < 10 || buf[s + 4] !== MINUS || buf[s + 7] !== MINUS) return -1;
  const hi = two(buf, s);
  const lo = two(buf, s + 2);
  const m = two(buf, s + 5);
  const d = two(buf, s + 8);
  if (hi < 10 || lo < 0 || m < 1 || m > 12 || d < 1) return -1;
  const y = hi * 100 + lo;
  if (d > daysIn(y, m)) return -1;
  parsed.time = Date.UTC(y, m - 1, d);
  return s + 10;
}

/** A date: exactly YYYY-MM-DD (the ISO form every date column accepts; PostgreSQL reads it the same). */
export function checkDate(buf: Buffer, s: number, e: number): boolean {
  return datePart(buf, s, e) === e;
}

/**
 * Timestamps the timestamp schema reads to the millisecond: YYYY-MM-DD, optionally [ T]HH:MM, :SS, .f to .fff.
 * (More fraction digits are rounded by zod, not by PostgreSQL: those go through zod.)
 */
export function checkTimestamp(buf: Buffer, s: number, e: number): boolean {
  let i = datePart(buf, s, e);
  if (i < 0) return false;
  if (i === e) return true;
  const sep = buf[i];
  if ((sep !== 32 && sep !== 84) || e - i < 6 || buf[i + 3] !== 58) return false;
  const h = two(buf, i + 1);
  const mi = two(buf, i + 4);
  if (h < 0 || h > 23 || mi < 0 || mi > 59) return false;
  let ms = h * 3_600_000 + mi * 60_000;
  i += 6;
  if (i < e) {
    if (buf[i] !== 58 || e - i < 3) return false;
    const sec = two(buf, i + 1);
    if (sec < 0 || sec > 59) return false;
    ms += sec * 1000;
    i += 3;
    if (i < e) {
      if (buf[i] !== DOT) return false;
      const digits = e - i - 1;
      if (digits < 1 || digits > 3) return false;
      let frac = 0;
      for (let k = i + 1; k < e; k++) {
        const c = buf[k]!;
        if (c < D0 || c > D9) return false;
        frac = frac * 10 + (c - D0);
      }
      ms += frac * (digits === 1 ? 100 : digits === 2 ? 10 : 1);
    }
  }
  parsed.time += ms;
  return true;
}

/**
 * A date format of col.date({ formats }) compiled to a byte matcher with exactly the semantics of its zod parser
 * (src/sources/columns.ts: YYYY 4 digits, YY 2 digits read as 2000-2068 / 1969-1999, MM and DD 2 digits, M and D 1 or
 * 2 digits, anything else literal). Returns the epoch ms of the date, NO_MATCH when the text does not have the
 * format's shape (zod would try the next format), or INVALID when it has the shape but is no calendar date.
 * undefined when the format cannot be matched without backtracking (a 1-or-2-digit token followed by a digit):
 * such a column's non-ISO dates always go through zod.
 */
export type DateMatcher = ((buf: Buffer, s: number, e: number) => number) | undefined;

export function compileDateFormat(format: string): DateMatcher {
  type Token = { t: 'Y' | 'y' | 'M' | 'D'; min: number; max: number } | { lit: number };
  const tokens: Token[] = [];
  for (let i = 0; i < format.length; ) {
    const rest = format.slice(i);
    const token = ['YYYY', 'YY', 'MM', 'DD', 'M', 'D'].find((t) => rest.startsWith(t));
    if (token === undefined) {
      const c = format.charCodeAt(i);
      if (c > 127) return undefined;
      tokens.push({ lit: c });
      i++;
      continue;
    }
    const width = token === 'YYYY' ? 4 : token.length === 2 ? 2 : 0;
    tokens.push({ t: token === 'YYYY' ? 'Y' : token === 'YY' ? 'y' : (token[0] as 'M' | 'D'), min: width || 1, max: width || 2 });
    i += token.length;
  }
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    const next = tokens[k + 1];
    if ('t' in tok && tok.min !== tok.max && next !== undefined && ('t' in next || (next.lit >= D0 && next.lit <= D9))) return undefined;
  }
  return (buf, s, e) => {
    let i = s;
    let y = 0;
    let mo = 0;
    let d = 0;
    for (const tok of tokens) {
      if ('lit' in tok) {
        if (i >= e || buf[i] !== tok.lit) return NO_MATCH;
        i++;
        continue;
      }
      let n = 0;
      let len = 0;
      while (len < tok.max && i < e && buf[i]! >= D0 && buf[i]! <= D9) {
        n = n * 10 + (buf[i]! - D0);
        i++;
        len++;
      }
      if (len < tok.min) return NO_MATCH;
      if (tok.t === 'Y') y = n;
      else if (tok.t === 'y') y = n < 69 ? 2000 + n : 1900 + n;
      else if (tok.t === 'M') mo = n;
      else d = n;
    }
    // a variable token stops before a non-digit (checked above), a fixed one takes its width: the regex is anchored
    if (i !== e) return NO_MATCH;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return INVALID;
    parsed.ymd = y * 10000 + mo * 100 + d;
    if (y >= 100) return Date.UTC(y, mo - 1, d);
    const date = new Date(Date.UTC(2000, mo - 1, d));
    date.setUTCFullYear(y); // Date.UTC would move years 0-99 into the 1900s
    return date.getTime();
  };
}

export const NO_MATCH = -1e15;
export const INVALID = -2e15;

/** A date in one of a column's formats, tried in zod's order: epoch ms (parsed.ymd set), or undefined when zod must decide. */
export function matchDateFormats(matchers: readonly DateMatcher[] | undefined, buf: Buffer, s: number, e: number): number | undefined {
  if (matchers === undefined) return undefined;
  for (const match of matchers) {
    if (match === undefined) return undefined;
    const t = match(buf, s, e);
    if (t === NO_MATCH) continue;
    return t === INVALID ? undefined : t;
  }
  return undefined;
}

/** True when the cell has the shape of an ISO date (dddd-dd-dd): zod reads it as ISO first, so checkDate decides. */
export function isoShaped(buf: Buffer, s: number, e: number): boolean {
  return e - s === 10 && buf[s + 4] === MINUS && buf[s + 7] === MINUS;
}

export const KIND_CODE: Record<ColumnKind, number> = { int: 1, numeric: 2, text: 3, timestamp: 4, date: 5, custom: 0 };
