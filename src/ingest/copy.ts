import { once } from 'node:events';
import type { Writable } from 'node:stream';

// COPY ... FROM STDIN in PostgreSQL's text format: tab-separated, \N for NULL, backslash escapes.

const NEEDS_ESCAPE = /[\\\t\n\r]/;

function escapeText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A timestamp without time zone, as the wall-clock time the file said (readers build such Dates in UTC). */
export function formatTimestamp(d: Date): string {
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`
  );
}

export function encodeCopyValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'string') return escapeText(v);
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (v instanceof Date) return formatTimestamp(v);
  return escapeText(JSON.stringify(v));
}

export function encodeCopyRow(row: Record<string, unknown>, columns: readonly string[]): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) {
    if (i > 0) line += '\t';
    line += encodeCopyValue(row[columns[i]!]);
  }
  return line + '\n';
}

/**
 * Collects encoded rows into large chunks before writing them to the COPY stream:
 * one write per row is several times slower than one write per few hundred KB.
 * Honors backpressure: when the stream's buffer is full, `push` waits for 'drain'.
 */
export class CopyBatcher {
  private parts: string[] = [];
  private size = 0;

  constructor(
    private readonly stream: Writable,
    private readonly chunkBytes = 256 * 1024,
  ) {}

  async push(line: string): Promise<void> {
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }
}
