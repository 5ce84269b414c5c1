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
