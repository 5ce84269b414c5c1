import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { PlannedBytes } from '../../ingest/verify';
import { openVerified, verifiedBytes } from '../../ingest/verify';
import { formatError } from './common';

// unzipper (exceljs' own zip library) reads a zip's central directory, then any single part on its own.
export interface ZipDirectory {
  files: { path: string; stream(): NodeJS.ReadableStream }[];
}
interface ZipSource {
  size(): Promise<number>;
  stream(offset: number): NodeJS.ReadableStream;
}
const unzipper = createRequire(import.meta.url)('unzipper') as { Open: { file(path: string): Promise<ZipDirectory>; custom(source: ZipSource): Promise<ZipDirectory> } };

/**
 * With a load's plan, the zip's bytes are read through a VerifiedReader. unzipper leaves some of its streams unread
 * and listens for errors on none of them, so a block that is not the planned one ends its stream (the parse of that
 * part then fails or stops short) and is kept in `failure`, which the reader reports instead, before any row it would
 * have given and again at the end.
 */
export interface Verified {
  source: ZipSource;
  failure: () => Error | undefined;
  close: () => Promise<void>;
}
export async function verifiedZip(path: string, plan: PlannedBytes): Promise<Verified> {
  const { reader, close } = await openVerified(path, plan);
  let failure: Error | undefined;
  let closed = false;
  async function* bytes(offset: number): AsyncGenerator<Buffer> {
    try {
      for await (const piece of verifiedBytes(reader, offset, plan.sizeBytes, 64 * 1024)) {
        if (closed) return;
        yield piece;
      }
    } catch (err) {
      if (!closed) failure ??= err as Error;
    }
  }
  return {
    source: { size: () => Promise.resolve(plan.sizeBytes), stream: (offset) => Readable.from(bytes(offset), { objectMode: false, highWaterMark: 64 * 1024 }) },
    failure: () => failure,
    close: () => {
      closed = true;
      return close();
    },
  };
}

/** The zip's directory (random access: each part is read on its own, whole). */
export async function openZip(path: string, name: string, verified?: Verified): Promise<ZipDirectory> {
  try {
    return await (verified ? unzipper.Open.custom(verified.source) : unzipper.Open.file(path));
  } catch (err) {
    const failure = verified?.failure();
    if (failure) throw failure;
    const head = Buffer.alloc(4);
    const fh = await open(path, 'r');
    try {
      await fh.read(head, 0, 4, 0);
    } finally {
      await fh.close();
    }
    if (head.toString('latin1') !== 'PK\u0003\u0004') throw formatError(name, 'is not an .xlsx workbook (not a zip archive)');
    throw formatError(name, `is not a complete .xlsx workbook: its zip directory is missing or damaged (a truncated file?): ${(err as Error).message}`);
  }
}
