import { promises as fsp } from 'node:fs';
import { InputError } from '../../errors';

// Helpers shared by the readers. Not part of the public reader API.

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export function missingFile(displayName: string, path: string): InputError {
  return new InputError('SourceFileMissing', `source file ${displayName} not found (looked for ${path})`, { file: displayName, path });
}

export function formatError(displayName: string, message: string, details: Record<string, unknown> = {}): InputError {
  return new InputError('SourceFormatError', `${displayName}: ${message}`, { file: displayName, ...details });
}

/**
 * Checks that `path` is an existing regular file and returns its size.
 * Missing -> SourceFileMissing; a directory or other non-file -> SourceFormatError.
 */
export async function checkFile(path: string, displayName: string): Promise<number> {
  let stat;
  try {
    stat = await fsp.stat(path);
  } catch (err) {
    throw ioError(err, displayName, path);
  }
  if (!stat.isFile()) throw formatError(displayName, `${path} is not a regular file`, { path });
  return stat.size;
}

/** Maps an error from fs (or anything else) met while reading: ENOENT becomes SourceFileMissing, InputErrors pass through. */
export function ioError(err: unknown, displayName: string, path: string): Error {
  if (err instanceof InputError) return err;
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return missingFile(displayName, path);
  if (code === 'EISDIR') return formatError(displayName, `${path} is not a regular file`, { path });
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Returns a function that zips an array of cells with the header into a plain object.
 * A header name `__proto__` is stored as an own property instead of changing the prototype.
 * With duplicated header names the last one wins (checkHeader rejects such files anyway).
 */
export function recordBuilder(header: readonly string[]): (cells: readonly unknown[]) => Record<string, unknown> {
  const n = header.length;
  if (!header.includes('__proto__')) {
    return (cells) => {
      const values: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) values[header[i]!] = cells[i];
      return values;
    };
  }
  return (cells) => {
    const values: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      Object.defineProperty(values, header[i]!, { value: cells[i], enumerable: true, writable: true, configurable: true });
    }
    return values;
  };
}

/** Assigns `values[key] = value` without ever touching the prototype. */
export function setOwn(values: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(values, key, { value, enumerable: true, writable: true, configurable: true });
  else values[key] = value;
}

/** Header names as found: trimmed, a leading BOM removed. */
export function cleanName(name: unknown): string {
  const text = name === null || name === undefined ? '' : String(name);
  return text.replace(/^\uFEFF/, '').trim();
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8, keeping every byte that is not valid UTF-8 as a lone surrogate U+DC80-U+DCFF (the byte + 0xDC00;
 * valid UTF-8 never decodes to a lone surrogate). So a text value with bad bytes is not silently changed to U+FFFD:
 * the column's check (src/sources/columns.ts) rejects its row naming the byte, and the rest of the file loads.
 * `firstInvalid` finds the first bad byte of a buffer (-1: none; an incomplete sequence at the very end counts as bad here
 * only when `final`).
 */
export function decodeUtf8KeepingBadBytes(bytes: Uint8Array, firstInvalid: (b: Buffer) => number): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // walk it below
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const rest = buf.subarray(i);
    let bad = firstInvalid(rest);
    if (bad < 0) {
      try {
        out += strictUtf8.decode(rest);
        break;
      } catch {
        // an incomplete sequence at the end: find its start
        bad = rest.length - 1;
        while (bad > 0 && (rest[bad]! & 0xc0) === 0x80) bad--;
      }
    }
    out += strictUtf8.decode(rest.subarray(0, bad)) + String.fromCharCode(0xdc00 + rest[bad]!);
    i += bad + 1;
  }
  return out;
}

/** The first byte kept by decodeUtf8KeepingBadBytes in `text`, or undefined when it has none. */
export function firstBadByte(text: string): number | undefined {
  const m = /[\uDC80-\uDCFF]/u.exec(text);
  return m ? m[0].charCodeAt(0) - 0xdc00 : undefined;
}
