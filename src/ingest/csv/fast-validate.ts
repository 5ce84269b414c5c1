import type { ColumnKind } from '../../sources/types';

// Hand-written checks of one cell's bytes, by column kind. Each returns true only for text that the column's zod
// schema accepts AND that PostgreSQL, reading the same bytes from COPY (CSV format), stores as the very value the
// zod path would store. Anything else (spaces to trim, "1e5", "40000.50", a 16-digit id, a time zone, ...) returns
// false and the row goes through zod, the source of truth, which either accepts and normalises it or rejects it
// with its full message. So the fast path never accepts what zod rejects, and never stores a different value.
// test/unit/ingest-fast-validate.test.ts checks that equivalence.

const D0 = 48;
const D9 = 57;
const MINUS = 45;
const DOT = 46;

/**
 * What the last successful check parsed: `number` for int/numeric (exactly Number(text)), `time` for dates and
 * timestamps (epoch ms of the wall-clock time, as the readers' UTC Dates). Read it right after a check.
 */
export const parsed = { number: 0, time: 0 };

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

/** Text: non-empty, no spaces (or anything non-ASCII) at either end to trim. Inner bytes are anything valid. */
export function checkText(buf: Buffer, s: number, e: number): boolean {
  if (e <= s) return false;
  const a = buf[s]!;
  const b = buf[e - 1]!;
  return a > 32 && a < 127 && b > 32 && b < 127;
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

export const KIND_CODE: Record<ColumnKind, number> = { int: 1, numeric: 2, text: 3, timestamp: 4, date: 5, custom: 0 };
