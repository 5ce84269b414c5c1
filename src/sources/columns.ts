import { z } from 'zod';
import { parseRejectBudget } from '../ingest/budget';
import { firstBadByte } from './readers/common';
import type { ColumnKind, ColumnSpec, DatabaseSourceSpec, RejectBudgetSpec, SourceFormat, SourceSpec } from './types';

// Column builders: one place that decides how a cell read from CSV/Excel/JSON/Parquet is coerced and stored.

const blankToNull = (v: unknown) => (v === '' || (typeof v === 'string' && v.trim() === '') ? null : v);

// Values are stored as written or refused: never rounded through a JavaScript number, never normalised.
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const PLAIN_INT = /^-?\d+$/;
/** Plain decimal text: an optional sign, digits with an optional fraction, an optional exponent (PostgreSQL numeric reads it exactly). */
const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
/** Within what PostgreSQL's numeric (no typmod) can hold, with a wide margin: digits and exponent bounded. */
const MAX_NUMERIC_DIGITS = 1000;
const MAX_NUMERIC_EXPONENT = 1000;

/** An int column's value: a safe integer as a number, a larger one (int8 range) as a bigint; anything else is left for z.custom to refuse. */
function toInteger(v: unknown): unknown {
  if (typeof v === 'string') {
    const t = v.trim();
    if (!PLAIN_INT.test(t)) return v;
    const b = BigInt(t);
    if (b < INT8_MIN || b > INT8_MAX) return INT_OUT_OF_RANGE;
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  if (typeof v === 'bigint') {
    if (v < INT8_MIN || v > INT8_MAX) return INT_OUT_OF_RANGE;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) return INT_IMPRECISE; // already rounded
  return v;
}
const INT_OUT_OF_RANGE = Symbol('integer out of range');
const INT_IMPRECISE = Symbol('integer beyond 2^53 read as a number');

/**
 * A decimal a reader could only get through a floating-point number that cannot hold it (a Parquet DECIMAL whose
 * unscaled value is beyond 2^50, which hyparquet decodes as a JavaScript number): refused, never stored rounded.
 */
export class ImpreciseDecimal {
  constructor(readonly approx: number) {}
  toJSON(): string {
    return `~${this.approx}`;
  }
}

/** A numeric column's value: the decimal text exactly as written (trimmed), or a number's shortest exact text. */
function toDecimalText(v: unknown): unknown {
  if (v instanceof ImpreciseDecimal) return NUMERIC_IMPRECISE;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!DECIMAL.test(t)) return v;
    const m = /^[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(t)!;
    if ((m[1]!.length + (m[2]?.length ?? 0)) > MAX_NUMERIC_DIGITS || Math.abs(Number(m[3] ?? 0)) > MAX_NUMERIC_EXPONENT) return NUMERIC_OUT_OF_RANGE;
    return t;
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return v;
}
const NUMERIC_OUT_OF_RANGE = Symbol('number out of range');
const NUMERIC_IMPRECISE = Symbol('decimal read through a floating-point number');

function required(inner: z.ZodType, pgType: string, kind: ColumnKind): ColumnSpec {
  return { schema: z.preprocess(blankToNull, inner), pgType, nullable: false, kind };
}

function optional(col: ColumnSpec): ColumnSpec {
  return { ...col, schema: z.preprocess(blankToNull, col.schema.nullable()), nullable: true };
}

/** The same column, found in the file under another name (e.g. "Order Date" for order_date). */
function from(header: string, col: ColumnSpec): ColumnSpec {
  return { ...col, header };
}

/**
 * Columns as a file's headers name them, each column named by its header in snake_case ("Row ID" is row_id,
 * "Sub-Category" sub_category) and found in the file under that header.
 */
function headed(columns: Record<string, ColumnSpec>): Record<string, ColumnSpec> {
  return Object.fromEntries(
    Object.entries(columns).map(([header, c]) => [header.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, ''), from(header, c)]),
  );
}

/** Integers in plain decimal notation ("12", "-7", "007"; not "1e3", "0x10", "1.0"), exact up to the bigint (int8) range. */
const intSchema = z.preprocess(
  toInteger,
  z.custom<number | bigint>((v) => (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint', {
    error: (issue) =>
      issue.input === INT_OUT_OF_RANGE
        ? 'integer out of range (bigint holds -9223372036854775808 to 9223372036854775807)'
        : issue.input === INT_IMPRECISE
          ? 'integer beyond 2^53 stored in the file as a floating-point number: its exact value is lost (store it as text)'
          : 'expected an integer',
  }),
);

/** Exact decimals, kept as decimal text (never through a lossy JavaScript number); PostgreSQL numeric stores them as written. */
const numericSchema = z.preprocess(
  toDecimalText,
  z.custom<string>((v) => typeof v === 'string' && DECIMAL.test(v), {
    error: (issue) =>
      issue.input === NUMERIC_OUT_OF_RANGE
        ? 'number out of range'
        : issue.input === NUMERIC_IMPRECISE
          ? 'a DECIMAL with more than 15 digits, decoded through a floating-point number: its exact value is lost (store it as text)'
          : 'expected a number',
  }),
);

/**
 * Text PostgreSQL can store: no NUL character, no byte that is not UTF-8 (readers keep such bytes as lone surrogates,
 * see decodeUtf8KeepingBadBytes), no unpaired UTF-16 surrogate (it would turn into U+FFFD on the way).
 */
const textSchema = z.preprocess(
  (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : typeof v === 'string' ? v.trim() : v),
  z.string({ error: 'expected text' }).superRefine((v, ctx) => {
    let message: string | undefined;
    const bad = firstBadByte(v);
    if (v.includes('\u0000')) message = 'contains a NUL character (binary data?)';
    else if (bad !== undefined) {
      message = `not valid UTF-8 text: byte 0x${bad.toString(16).toUpperCase()} (is the file in another encoding, e.g. Windows-1252 or Latin-1? save it as UTF-8)`;
    } else if (/[\uD800-\uDFFF]/u.test(v)) message = 'contains an unpaired UTF-16 surrogate (not valid Unicode text)';
    if (message) ctx.addIssue({ code: 'custom', message, abort: true });
  }),
);

/** A calendar date-time at UTC, or undefined when any field is out of range (never rolled over into the next unit). Years 1-9999, as written. */
function utcDateTime(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date | undefined {
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  date.setUTCFullYear(y); // Date.UTC would move years 0-99 into the 1900s
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d ? date : undefined;
}

/** A Date a column can store: years 1 to 9999 (what the text forms allow and PostgreSQL reads back the same). */
const inRange = (d: Date) => !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999;

/**
 * Timestamps: Date objects (Excel, Parquet), ISO-like strings (`2022-01-01 00:00:00.000`), epoch never guessed.
 * Every field must be in range (2022-02-30, 24:00, 10:60 and :60 seconds are refused, never rolled over); fractions
 * beyond milliseconds must be zeros (a Date holds milliseconds: more would be rounded).
 */
const timestampSchema = z.preprocess((v) => {
  if (v instanceof Date) return v;
  if (typeof v === 'string') {
    const t = v.trim();
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})0{0,3})?)?)?$/.exec(t);
    if (!m) return t;
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m;
    return utcDateTime(+y!, +mo!, +d!, +h, +mi, +s, Number(frac.padEnd(3, '0'))) ?? t;
  }
  return v;
}, z.date({ error: 'expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])' }).refine(inRange, { error: 'date out of range (years 1 to 9999)' }));

/**
 * Parses a date format such as "MM-DD-YY", "M/D/YYYY" or "DD.MM.YYYY": tokens YYYY (4-digit year), YY (2-digit year,
 * 00-68 -> 2000-2068, 69-99 -> 1969-1999, as POSIX strptime %y), MM/DD (exactly 2 digits), M/D (1 or 2 digits);
 * anything else must match literally.
 */
function dateFormatParser(format: string): (text: string) => Date | undefined {
  const order: ('Y' | 'y' | 'M' | 'D')[] = [];
  let pattern = '';
  for (let i = 0; i < format.length; ) {
    const rest = format.slice(i);
    const token = ['YYYY', 'YY', 'MM', 'DD', 'M', 'D'].find((t) => rest.startsWith(t));
    if (token === undefined) {
      pattern += format[i]!.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
      i++;
      continue;
    }
    const group = token === 'YYYY' ? '(\\d{4})' : token.length === 2 ? '(\\d{2})' : '(\\d{1,2})';
    pattern += group;
    order.push(token === 'YYYY' ? 'Y' : token === 'YY' ? 'y' : (token[0] as 'M' | 'D'));
    i += token.length;
  }
  if (!order.includes('M') || !order.includes('D') || !(order.includes('Y') || order.includes('y'))) {
    throw new Error(`date format ${JSON.stringify(format)} needs a year, a month and a day`);
  }
  const re = new RegExp(`^${pattern}$`);
  return (text) => {
    const m = re.exec(text);
    if (!m) return undefined;
    let y = 0;
    let mo = 0;
    let d = 0;
    order.forEach((t, k) => {
      const n = Number(m[k + 1]);
      if (t === 'Y') y = n;
      else if (t === 'y') y = n < 69 ? 2000 + n : 1900 + n;
      else if (t === 'M') mo = n;
      else d = n;
    });
    return utcDate(y, mo, d);
  };
}

/** A valid calendar date at UTC midnight, or undefined (2022-02-30, month 13, year 0 ...). */
function utcDate(y: number, mo: number, d: number): Date | undefined {
  return utcDateTime(y, mo, d);
}

const ISO_DATE = dateFormatParser('YYYY-MM-DD');

/**
 * A calendar date (PostgreSQL date). Accepts Date objects (Excel cells; the time of day is dropped), ISO
 * "YYYY-MM-DD" always, and each of `formats` (see dateFormatParser), tried in order: list the unambiguous
 * ones; a text matching none is rejected naming the formats.
 */
function dateSchema(formats: readonly string[]): z.ZodType {
  const parsers = formats.map(dateFormatParser);
  const accepted = ['YYYY-MM-DD', ...formats.filter((f) => f !== 'YYYY-MM-DD')].join(', ');
  return z.preprocess(
    (v) => {
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? v : new Date(Date.UTC(v.getUTCFullYear(), v.getUTCMonth(), v.getUTCDate()));
      if (typeof v !== 'string') return v;
      const t = v.trim();
      const iso = ISO_DATE(t);
      if (iso) return iso;
      for (const parse of parsers) {
        const date = parse(t);
        if (date) return date;
      }
      return t;
    },
    z.date({ error: `expected a date (${accepted})` }).refine(inRange, { error: 'date out of range (years 1 to 9999)' }),
  );
}

export const col = {
  int: (): ColumnSpec => required(intSchema, 'bigint', 'int'),
  numeric: (): ColumnSpec => required(numericSchema, 'numeric', 'numeric'),
  text: (): ColumnSpec => required(textSchema.pipe(z.string().min(1, { error: 'expected non-empty text' })), 'text', 'text'),
  timestamp: (): ColumnSpec => required(timestampSchema, 'timestamp', 'timestamp'),
  /** A date; `formats` adds accepted text formats besides ISO, e.g. ['MM-DD-YY', 'M/D/YYYY'] for US exports. */
  date: (options: { formats?: readonly string[] } = {}): ColumnSpec => ({
    ...required(dateSchema(options.formats ?? []), 'date', 'date'),
    ...(options.formats?.length ? { dateFormats: [...options.formats] } : {}),
  }),
  optional,
  from,
  headed,
};

export interface SourceDefinition {
  name: string;
  file: string;
  format: SourceFormat;
  sheet?: string;
  columns: Record<string, ColumnSpec>;
  primaryKey: string[];
  /** Cross-column rules, e.g. unit_sales = qty * item_price. Return a message per broken rule. */
  refine?: (row: Record<string, unknown>) => { column: string; message: string }[];
  /** Rows this source may reject before the load fails: N, or "P%" of rows read. Default 0. */
  rejectBudget?: RejectBudgetSpec;
  /** The source can also be read from a database table (see DatabaseSourceSpec). */
  database?: DatabaseSourceSpec;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Builds a SourceSpec, checking every identifier once, at start-up, so SQL never sees a name that needs escaping. */
export function defineSource(def: SourceDefinition): SourceSpec {
  for (const name of [def.name, ...Object.keys(def.columns)]) {
    if (!IDENTIFIER.test(name) || name === '__proto__') throw new Error(`source ${def.name}: "${name}" is not a plain lower-case identifier`);
  }
  if (def.primaryKey.length === 0) throw new Error(`source ${def.name}: a primary key is required`);
  for (const key of def.primaryKey) {
    if (!Object.hasOwn(def.columns, key)) throw new Error(`source ${def.name}: primary key column ${key} is not a column`);
    if (def.columns[key]!.nullable) throw new Error(`source ${def.name}: primary key column ${key} cannot be optional`);
  }
  const headers = Object.entries(def.columns).map(([name, c]) => c.header ?? name);
  const clash = headers.find((h, i) => headers.indexOf(h) !== i);
  if (clash !== undefined) throw new Error(`source ${def.name}: two columns read the file column ${JSON.stringify(clash)}`);
  if (def.database) checkDatabaseSpec(def);
  if (def.rejectBudget !== undefined) parseRejectBudget(String(def.rejectBudget), `source ${def.name}: rejectBudget`);
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(def.columns)) shape[name] = spec.schema;
  let rowSchema: z.ZodType<Record<string, unknown>> = z.object(shape) as unknown as z.ZodType<Record<string, unknown>>;
  if (def.refine) {
    const refine = def.refine;
    rowSchema = rowSchema.superRefine((row, ctx) => {
      for (const issue of refine(row)) ctx.addIssue({ code: 'custom', path: [issue.column], message: issue.message });
    });
  }
  return { ...def, rowSchema, rejectBudget: def.rejectBudget ?? 0 };
}

/** Database-capable sources: every name checked like a column name, a single integer primary key. */
function checkDatabaseSpec(def: SourceDefinition): void {
  const db = def.database!;
  const via = db.periodVia;
  for (const name of [db.table, db.periodColumn, db.watermarkColumn, via?.table, via?.foreignKey, via?.key, via?.column]) {
    if (name !== undefined && (!IDENTIFIER.test(name) || name === '__proto__')) throw new Error(`source ${def.name}: database name "${name}" is not a plain lower-case identifier`);
  }
  if (def.primaryKey.length !== 1 || def.columns[def.primaryKey[0]!]!.kind !== 'int') {
    throw new Error(`source ${def.name}: a database source needs a single integer primary key (its ranges are read side by side)`);
  }
  if (db.periodColumn && db.periodVia) throw new Error(`source ${def.name}: give periodColumn or periodVia, not both`);
  for (const c of [db.periodColumn, db.watermarkColumn, via?.foreignKey]) {
    if (c !== undefined && !Object.hasOwn(def.columns, c)) throw new Error(`source ${def.name}: database column ${c} is not a column of the source`);
  }
}
