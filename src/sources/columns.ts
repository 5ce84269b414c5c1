import { z } from 'zod';
import type { ColumnSpec, SourceFormat, SourceSpec } from './types';

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

function required(inner: z.ZodType, pgType: string): ColumnSpec {
  return { schema: z.preprocess(blankToNull, inner), pgType, nullable: false };
}

function optional(col: ColumnSpec): ColumnSpec {
  return { schema: z.preprocess(blankToNull, col.schema.nullable()), pgType: col.pgType, nullable: true };
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

export const col = {
  int: (): ColumnSpec => required(intSchema, 'bigint'),
  numeric: (): ColumnSpec => required(numericSchema, 'numeric'),
  text: (): ColumnSpec => required(textSchema.pipe(z.string().min(1, { error: 'expected non-empty text' })), 'text'),
  timestamp: (): ColumnSpec => required(timestampSchema, 'timestamp'),
  optional,
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
  rejectBudget?: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Builds a SourceSpec, checking every identifier once, at start-up, so SQL never sees a name that needs escaping. */
export function defineSource(def: SourceDefinition): SourceSpec {
  for (const name of [def.name, ...Object.keys(def.columns)]) {
    if (!IDENTIFIER.test(name)) throw new Error(`source ${def.name}: "${name}" is not a plain lower-case identifier`);
  }
  for (const key of def.primaryKey) {
    if (!(key in def.columns)) throw new Error(`source ${def.name}: primary key column ${key} is not a column`);
  }
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(def.columns)) shape[name] = spec.schema;
  let rowSchema: z.ZodType<Record<string, unknown>> = z.object(shape) as unknown as z.ZodType<Record<string, unknown>>;
  if (def.refine) {
    const refine = def.refine;
    rowSchema = rowSchema.superRefine((row, ctx) => {
      for (const issue of refine(row)) ctx.addIssue({ code: 'custom', path: [issue.column], message: issue.message });
    });
  }
  const { refine: _refine, ...rest } = def;
  return { ...rest, rowSchema, rejectBudget: def.rejectBudget ?? 0 };
}
