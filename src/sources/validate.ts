import { InputError, showValue } from '../errors';
import type { RawRecord, SourceSpec } from './types';

export interface RowError {
  column: string;
  value: unknown;
  message: string;
}

export type RecordResult = { ok: true; row: Record<string, unknown> } | { ok: false; errors: RowError[] };

const MAX_LISTED = 20;

/** A column name from a file, shown safely: plain names bare, anything odd quoted and shortened. */
function showName(name: string): string {
  if (name === '') return '(blank)';
  return /^[\p{L}\p{N}_ .()/-]{1,64}$/u.test(name) && name.trim() === name ? name : showValue(name);
}

function list(names: string[]): string {
  const shown = names.slice(0, MAX_LISTED).map(showName).join(', ');
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

/**
 * Checks a file's header against the source's columns: exact names after trimming, case-sensitive, order free.
 * Throws InputError('SourceHeaderMismatch') naming the file and listing missing, unexpected (extra or renamed)
 * and duplicated columns, with a hint when an unexpected name differs from a missing one only in case/spacing.
 */
export function checkHeader(spec: SourceSpec, header: string[], displayName: string): void {
  const expected = fileColumns(spec).map((c) => c.header);
  const names = header.map((h) => String(h).trim());
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);

  const expectedSet = new Set(expected);
  const missing = expected.filter((c) => !counts.has(c));
  const unexpected = [...counts.keys()].filter((n) => !expectedSet.has(n));
  const duplicated = [...counts.entries()].filter(([, n]) => n > 1).map(([name]) => name);
  if (missing.length === 0 && unexpected.length === 0 && duplicated.length === 0) return;

  const loose = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, '');
  const hints: string[] = [];
  for (const name of unexpected) {
    const match = missing.find((m) => loose(m) === loose(name));
    if (match) hints.push(`${showName(name)} -> ${match}?`);
  }

  const parts: string[] = [];
  if (missing.length) parts.push(`missing column(s) ${list(missing)}`);
  if (unexpected.length) parts.push(`unexpected column(s) ${list(unexpected)}`);
  if (duplicated.length) parts.push(`duplicated column(s) ${list(duplicated)}`);
  if (hints.length) parts.push(`did you mean: ${hints.slice(0, MAX_LISTED).join(', ')}`);
  throw new InputError('SourceHeaderMismatch', `${displayName}: header does not match source "${spec.name}": ${parts.join('; ')}`, {
    file: displayName,
    source: spec.name,
    missing,
    unexpected,
    duplicated,
    expected,
    header: names,
  });
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

/** A source column with the name it has in the file (its `header`, else the column name itself). */
export interface FileColumn {
  name: string;
  header: string;
}

const fileColumnCache = new WeakMap<SourceSpec, FileColumn[]>();

/** The source's columns, in staging order, each with the name the file uses for it. */
export function fileColumns(spec: SourceSpec): FileColumn[] {
  let cols = fileColumnCache.get(spec);
  if (!cols) {
    cols = Object.entries(spec.columns).map(([name, c]) => ({ name, header: c.header ?? name }));
    fileColumnCache.set(spec, cols);
  }
  return cols;
}

/**
 * Validates one raw record against the source's row schema (only the spec's columns are looked at).
 * On failure returns every issue zod found, each with its column, the raw value from the file and a readable message.
 * Cross-column refinements (e.g. unit_sales = qty × item_price) run only once every column is individually valid.
 */
export function validateRecord(spec: SourceSpec, record: RawRecord): RecordResult {
  const input: Record<string, unknown> = {};
  for (const { name, header } of fileColumns(spec)) input[name] = record.values[header];
  const result = spec.rowSchema.safeParse(input);
  if (result.success) return { ok: true, row: result.data };

  const errors: RowError[] = [];
  const seen = new Set<string>();
  for (const issue of result.error.issues) {
    const name = issue.path.length > 0 ? String(issue.path[0]) : '';
    const known = name !== '' && Object.hasOwn(spec.columns, name);
    // Messages name the column as the file does ("Order Date"), values are looked up the same way.
    const column = known ? (spec.columns[name]!.header ?? name) : name;
    const value = column ? record.values[column] : undefined;
    // A blank cell in a required column: say so, rather than the type the cell would have needed.
    const required = known && !spec.columns[name]!.nullable;
    const message = required && isBlank(value) ? 'a value is required' : issue.message;
    const key = `${column}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push({ column, value, message });
  }
  return { ok: false, errors };
}

/** One error, readable: `column qty: expected an integer (got "abc")`. */
export function describeRowError(e: RowError): string {
  return e.column ? `column ${e.column}: ${e.message} (got ${showValue(e.value)})` : e.message;
}

/** `order_details.csv row 17: column qty: expected an integer (got "abc"); column unit_sales: ...` */
export function describeRowErrors(displayName: string, row: number, errors: RowError[]): string {
  return `${displayName} row ${row}: ${errors.map(describeRowError).join('; ')}`;
}

/** The kind of an error, without the value: `qty: expected an integer`; numbers in the message become N. */
export function errorKind(e: RowError): string {
  const message = e.message.replace(/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, 'N');
  return e.column ? `${e.column}: ${message}` : message;
}
