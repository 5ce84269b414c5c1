import type { ColumnKind } from '../sources/types';
import { encodeCopyValue, formatTimestamp } from './copy';

// Values on their way into PostgreSQL. Rows go in through COPY ... (FORMAT csv): an unquoted empty field is NULL,
// text is always quoted (so "" is an empty string, and nothing in it, not even a line "\.", can be mistaken for
// syntax). The rejected-rows ledger is written with COPY in text format (encodeCopyValue), arrays as array literals.

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A date column's value: YYYY-MM-DD. */
export function formatDate(d: Date): string {
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** One validated value as a CSV field for COPY (FORMAT csv). */
export function csvField(value: unknown, kind: ColumnKind | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return `"${value.replace(/"/g, '""')}"`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return kind === 'date' ? formatDate(value) : formatTimestamp(value);
  return `"${JSON.stringify(value).replace(/"/g, '""')}"`;
}

/** A PostgreSQL array literal of text, for COPY text format (before encodeCopyValue escapes it). */
export function textArrayLiteral(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * JSON for a jsonb column: NUL characters and lone surrogates (kept bytes that are not UTF-8, unpaired UTF-16 halves),
 * which jsonb cannot hold, become U+FFFD; bigints become strings.
 */
export function jsonForPg(value: unknown): string {
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'string') return v.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    return v;
  });
  return (text ?? 'null').replace(/\\u0000/g, '\\ufffd');
}

/** One line of COPY text format. */
export function copyTextLine(values: readonly unknown[]): string {
  return values.map(encodeCopyValue).join('\t') + '\n';
}
