import { isUtf8 } from 'node:buffer';
import { setOwn } from '../../sources/readers/common';
import { EOL_NONE, F_BAD_QUOTE, F_UNTERMINATED, QUOTE } from './scan';
import type { RecordScanner } from './scan';
import { firstInvalidUtf8 } from './utf8';

// The records the CSV fast path (rows.ts) declines: what their structure alone says about them, and the record as
// {header: text} for validation and the rejected-row ledger.

/** A record the fast path declined, waiting to be decoded by csv-parse with the declined records around it. */
export interface Declined {
  start: number;
  end: number;
  row: number;
  fields: number;
  /** Set when the record is rejected for its structure (encoding, quoting, field count) whatever its values. */
  reasons?: { errors: string[]; kinds: string[] };
}

/**
 * Why the record `d` (bytes start..end of `buf`, just scanned by `sc`) is rejected whatever its values: invalid
 * UTF-8, an unclosed quote, a wrong number of fields, bad quoting; undefined when its structure is sound.
 */
export function structuralReasons(buf: Buffer, d: Declined, sc: RecordScanner, header: readonly string[], fileOffset: number): Declined['reasons'] {
  const width = header.length;
  const bytes = buf.subarray(d.start, d.end);
  if (!isUtf8(bytes)) {
    const bad = d.start + Math.max(0, firstInvalidUtf8(bytes));
    const byte = buf[bad] ?? 0;
    return {
      errors: [
        `not valid UTF-8 text: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${fileOffset + bad} of the file ` +
          `(is the file in another encoding, e.g. Windows-1252 or Latin-1? save it as UTF-8)`,
      ],
      kinds: ['not valid UTF-8 text'],
    };
  }
  if (sc.flags & F_UNTERMINATED) return { errors: ['a quoted field is not closed before the end of the file (is the file truncated?)'], kinds: ['unclosed quoted field'] };
  if (sc.fields !== width) {
    const truncated = sc.eol === EOL_NONE && sc.fields < width ? ' (the last line of the file looks truncated)' : '';
    return { errors: [`has ${sc.fields} field(s) but the header has ${width}${truncated}`], kinds: ['wrong number of fields'] };
  }
  if (sc.flags & F_BAD_QUOTE) {
    const errors: string[] = [];
    for (let k = 0; k < width; k++) {
      const s = sc.fs[k]!;
      const e = sc.fe[k]!;
      const q = buf.indexOf(QUOTE, s);
      if (q === -1 || q >= e) continue;
      if (!sc.fq[k]) errors.push(`column ${header[k]}: a double quote inside an unquoted field (quote the whole field and double the quote: "12"" pizza")`);
      else if (buf[e - 1] !== QUOTE) errors.push(`column ${header[k]}: text after the closing quote of a quoted field`);
    }
    if (errors.length === 0) errors.push('badly quoted field');
    return { errors, kinds: ['bad quoting'] };
  }
  return undefined;
}

/** The record as {header: text}, with extra fields under "(extra field N)" (up to `capacity`); an unreadable one as its text. */
export function rawRecord(fields: string[] | null, buf: Buffer, d: Declined, header: readonly string[], capacity: number): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  if (fields === null) {
    setOwn(raw, '(record)', buf.toString('utf8', d.start, d.end).replace(/\r?\n$/, ''));
    return raw;
  }
  const n = Math.min(fields.length, capacity);
  for (let k = 0; k < n; k++) setOwn(raw, k < header.length ? header[k]! : `(extra field ${k + 1})`, fields[k]!);
  return raw;
}

/** Why a decoded record is rejected for NUL bytes in its cells (PostgreSQL text cannot hold them); undefined if none. */
export function nulReasons(raw: Record<string, unknown>, header: readonly string[]): Declined['reasons'] {
  const errors: string[] = [];
  const kinds: string[] = [];
  for (const name of header) {
    const v = raw[name];
    if (typeof v === 'string' && v.includes('\u0000')) {
      errors.push(`column ${name}: contains a NUL byte (binary data?)`);
      kinds.push(`${name}: contains a NUL byte`);
    }
  }
  return errors.length > 0 ? { errors, kinds: [...new Set(kinds)] } : undefined;
}
