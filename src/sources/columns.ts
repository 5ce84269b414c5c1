import { z } from 'zod';
import { parseRejectBudget } from '../ingest/budget';
import type { ColumnKind, ColumnSpec, RejectBudgetSpec, SourceFormat, SourceSpec } from './types';

// Column builders: one place that decides how a cell read from CSV/Excel/JSON/Parquet is coerced and stored.

const blankToNull = (v: unknown) => (v === '' || (typeof v === 'string' && v.trim() === '') ? null : v);

const toNumber = (v: unknown) => {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? v : Number(t);
  }
  return v;
};

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

const intSchema = z.preprocess(
  toNumber,
  z.number({ error: 'expected an integer' }).int({ error: 'expected an integer' }).refine(Number.isSafeInteger, {
    error: 'integer out of range',
  }),
);

const numericSchema = z.preprocess(toNumber, z.number({ error: 'expected a number' }).finite({ error: 'expected a finite number' }));

const textSchema = z.preprocess(
  (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : typeof v === 'string' ? v.trim() : v),
  z.string({ error: 'expected text' }),
);

/** Timestamps: Date objects (Excel, Parquet), ISO-like strings (`2022-01-01 00:00:00.000`), epoch never guessed. */
const timestampSchema = z.preprocess((v) => {
  if (v instanceof Date) return v;
  if (typeof v === 'string') {
    const t = v.trim();
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(t);
    if (!m) return t;
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0'] = m;
    const date = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s, Math.round(Number(`0.${frac}`) * 1000)));
    // Reject 2022-02-30 and friends: Date.UTC would silently roll them over.
    if (date.getUTCMonth() !== +mo! - 1 || date.getUTCDate() !== +d!) return t;
    return date;
  }
  return v;
}, z.date({ error: 'expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]])' }).refine((d) => !Number.isNaN(d.getTime()), { error: 'invalid date' }));

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

/** A valid calendar date at UTC midnight, or undefined (2022-02-30, month 13, year before 100 ...). */
function utcDate(y: number, mo: number, d: number): Date | undefined {
  if (y < 100 || mo < 1 || mo > 12 || d < 1) return undefined;
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d ? date : undefined;
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
    z.date({ error: `expected a date (${accepted})` }).refine((d) => !Number.isNaN(d.getTime()), { error: 'invalid date' }),
  );
}

export const col = {
  int: (): ColumnSpec => required(intSchema, 'bigint', 'int'),
  numeric: (): ColumnSpec => required(numericSchema, 'numeric', 'numeric'),
  text: (): ColumnSpec => required(textSchema.pipe(z.string().min(1, { error: 'expected non-empty text' })), 'text', 'text'),
  timestamp: (): ColumnSpec => required(timestampSchema, 'timestamp', 'timestamp'),
  /** A date; `formats` adds accepted text formats besides ISO, e.g. ['MM-DD-YY', 'M/D/YYYY'] for US exports. */
  date: (options: { formats?: readonly string[] } = {}): ColumnSpec => required(dateSchema(options.formats ?? []), 'date', 'date'),
  optional,
  from,
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
