import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';

// hyparquet is loaded on first use, so a worker that reads no Parquet file does not hold it.
const hyparquet = () => import('hyparquet');
import type { RawRecord, Reader, RecordStream } from '../types';
import { firstInvalidUtf8 } from '../../ingest/csv/utf8';
import { checkFile, cleanName, decodeUtf8KeepingBadBytes, formatError, ioError, recordBuilder } from './common';
import { ImpreciseDecimal } from '../columns';
import { InputError } from '../../errors';
import type { PlannedBytes } from '../../ingest/verify';
import { VerifiedReader } from '../../ingest/verify';

/**
 * An AsyncBuffer over an open file: hyparquet asks for byte ranges (footer, column chunks) and gets only those. With
 * a load's plan, each range is served from whole blocks whose sha256 matched the plan's (VerifiedReader).
 */
function fileBuffer(handle: FileHandle, size: number, verify?: PlannedBytes): AsyncBuffer {
  if (verify?.blockSha256) {
    const reader = new VerifiedReader(handle, verify);
    return {
      byteLength: verify.sizeBytes,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? verify.sizeBytes, verify.sizeBytes);
        const out = Buffer.alloc(Math.max(0, stop - start));
        await reader.read(out, 0, out.length, start);
        return out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
      },
    };
  }
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const length = Math.max(0, stop - start);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, start + done);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + done} (the file changed while being read?)`);
        done += bytesRead;
      }
      return out.buffer;
    },
  };
}

async function openParquet(path: string, name: string, verify?: PlannedBytes): Promise<{ handle: FileHandle; file: AsyncBuffer; metadata: FileMetaData }> {
  let handle: FileHandle;
  try {
    handle = await fsp.open(path, 'r');
  } catch (err) {
    throw ioError(err, name, path);
  }
  try {
    const { size } = await handle.stat();
    const notParquet = (why: string) => formatError(name, `is not a Parquet file (${why})`);
    if (size < 12) throw notParquet(`only ${size} bytes`);
    const file = fileBuffer(handle, size, verify);
    const head = new Uint8Array(await file.slice(0, 4));
    const tail = new Uint8Array(await file.slice(size - 4, size));
    const magic = (b: Uint8Array) => String.fromCharCode(...b);
    if (magic(head) !== 'PAR1' || magic(tail) !== 'PAR1') throw notParquet('no "PAR1" magic bytes at its start and end');
    let metadata: FileMetaData;
    try {
      metadata = await (await hyparquet()).parquetMetadataAsync(file);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw formatError(name, `has unreadable Parquet metadata: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { handle, file, metadata };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

/**
 * Parquet reader over hyparquet. The header is the schema's top-level column names; rows are read one row group at
 * a time (hyparquet decodes whole column chunks, so a row group is the natural memory bound), through an AsyncBuffer
 * that reads byte ranges from a file handle: the file is never loaded whole. Values come as hyparquet decodes them:
 * INT64 as bigint, timestamps as Date, strings as string, nested columns as objects/arrays.
 * The file is opened once for the header and again, lazily, when `records` is iterated (closed when iteration ends).
 */
export const readParquet: Reader = async (path, options): Promise<RecordStream> => {
  const name = options.displayName;
  await checkFile(path, name);

  const { handle, metadata } = await openParquet(path, name);
  await handle.close();
  const { parquetRead, parquetSchema } = await hyparquet();
  const children = parquetSchema(metadata).children ?? [];
  const names = children.map((child) => child.element.name);
  const header = names.map(cleanName);
  const build = recordBuilder(header);
  // DECIMAL columns: hyparquet hands them over as unscaled * 10^-scale in a JavaScript number (3 at scale 1 is
  // 0.30000000000000004); each becomes its exact decimal text again, or is refused where a number cannot hold it
  const decimals = children.flatMap((child, k) => {
    const e = child.element;
    return e.converted_type === 'DECIMAL' || e.logical_type?.type === 'DECIMAL' ? [{ k, scale: e.scale ?? 0 }] : [];
  });

  async function* records(): AsyncGenerator<RawRecord> {
    const opened = await openParquet(path, name, options.verify);
    try {
      let rowStart = 0;
      let row = 0;
      for (const group of opened.metadata.row_groups) {
        const rowEnd = rowStart + Number(group.num_rows);
        let rows: unknown[][] = [];
        try {
          await parquetRead({
            file: opened.file,
            metadata: opened.metadata,
            columns: names,
            // text with bytes that are not UTF-8 keeps them (its row is rejected naming the byte), never U+FFFD
            parsers: { stringFromBytes: (bytes: Uint8Array | undefined) => (bytes === undefined ? bytes : decodeUtf8KeepingBadBytes(bytes, firstInvalidUtf8)) },
            rowStart,
            rowEnd,
            onComplete: (data: unknown[][]) => {
              rows = data;
            },
          });
        } catch (err) {
          if (err instanceof InputError) throw err;
          if (err instanceof Error && !('code' in err)) {
            throw formatError(name, `cannot decode rows ${rowStart + 1}-${rowEnd}: ${err.message}`, { rowStart: rowStart + 1, rowEnd });
          }
          throw ioError(err, name, path);
        }
        for (const cells of rows) {
          for (const { k, scale } of decimals) cells[k] = exactDecimal(cells[k], scale);
          yield { row: ++row, values: build(cells) };
        }
        rows = [];
        rowStart = rowEnd;
      }
    } finally {
      await opened.handle.close().catch(() => {});
    }
  }

  return { header, records: records() };
};

/** Beyond this unscaled magnitude two roundings (hyparquet's, then ours) may no longer give the integer back. */
const EXACT_UNSCALED = 2 ** 50;

/** A decoded DECIMAL as its exact decimal text (unscaled value and scale recovered), or ImpreciseDecimal. */
export function exactDecimal(v: unknown, scale: number): unknown {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v;
  const unscaled = scale <= 20 ? Math.round(v * 10 ** scale) : NaN;
  if (!(Math.abs(unscaled) <= EXACT_UNSCALED)) return v === 0 ? '0' : new ImpreciseDecimal(v);
  const digits = String(Math.abs(unscaled)).padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return unscaled < 0 ? `-${text}` : text;
}
