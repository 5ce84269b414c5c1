import { createReadStream } from 'node:fs';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import type { RawRecord, Reader, RecordStream } from '../../sources/types';
import { checkFile, cleanName, formatError, ioError, recordBuilder } from '../../sources/readers/common';
import { firstInvalidUtf8, incompleteTail } from './utf8';

/**
 * Sits between the file and csv-parse: rejects content that is obviously not UTF-8 CSV text
 * (a NUL byte, invalid UTF-8) with a SourceFormatError naming the file, line and byte offset.
 * Bytes pass through unchanged; csv-parse decodes them itself.
 */
class TextGuard extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  /** Bytes seen before the current chunk. */
  private offset = 0;
  /** Newlines seen before the current chunk. */
  private newlines = 0;
  /** Trailing bytes of the previous chunk that start a multi-byte sequence the decoder is still holding. */
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly displayName: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      callback(
        this.fail(
          chunk,
          nul,
          'contains a NUL byte: this looks like a binary file (or UTF-16 text), not a UTF-8 CSV file',
        ),
      );
      return;
    }
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      const joined = Buffer.concat([this.carry, chunk]);
      const at = firstInvalidUtf8(joined);
      callback(this.fail(chunk, Math.max(0, (at === -1 ? joined.length : at) - this.carry.length), 'is not valid UTF-8 text'));
      return;
    }
    this.carry = incompleteTail(Buffer.concat([this.carry, chunk]));
    this.newlines += countNewlines(chunk, chunk.length);
    this.offset += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.decoder.decode();
    } catch {
      callback(this.fail(Buffer.alloc(0), 0, 'is not valid UTF-8 text (it ends in the middle of a character)'));
      return;
    }
    callback();
  }

  private fail(chunk: Buffer, index: number, what: string) {
    const line = this.newlines + countNewlines(chunk, index) + 1;
    const byte = this.offset + index;
    return formatError(this.displayName, `${what} (line ${line}, byte offset ${byte})`, { line, byteOffset: byte });
  }
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  let i = buf.indexOf(10);
  while (i !== -1 && i < end) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

/**
 * CSV reader: csv-parse in streaming mode over fs.createReadStream, records as arrays zipped with the header.
 * Handles a UTF-8 BOM, CRLF or LF line ends, quoted fields with commas, doubled quotes and embedded newlines.
 * Values stay strings. Blank lines are skipped. `row` is the record ordinal (1 = first record after the header),
 * which equals "line number - 1" unless a quoted field spans lines or blank lines were skipped.
 * A record with a different number of fields than the header is a SourceFormatError.
 */
export const readCsv: Reader = async (path, options): Promise<RecordStream> => {
  const name = options.displayName;
  await checkFile(path, name);

  const input = createReadStream(path, { highWaterMark: 256 * 1024 });
  const guard = new TextGuard(name);
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true });
  pipeline(input, guard, parser, () => {
    // errors surface through the parser's async iterator
  });
  const it = parser[Symbol.asyncIterator]() as AsyncIterator<string[]>;
  const release = () => {
    input.destroy();
    parser.destroy();
  };

  let first: IteratorResult<string[]>;
  try {
    first = await it.next();
  } catch (err) {
    release();
    throw csvError(err, name, path, 0);
  }
  if (first.done) {
    release();
    throw formatError(name, 'is empty: expected a header row');
  }
  const header = first.value.map(cleanName);
  const width = header.length;
  const build = recordBuilder(header);

  async function* records(): AsyncGenerator<RawRecord> {
    let row = 0;
    try {
      for (;;) {
        let next: IteratorResult<string[]>;
        try {
          next = await it.next();
        } catch (err) {
          throw csvError(err, name, path, row);
        }
        if (next.done) return;
        row++;
        const fields = next.value;
        if (fields.length !== width) {
          throw formatError(name, `row ${row} has ${fields.length} field(s) but the header has ${width}`, {
            row,
            fields: fields.length,
            expected: width,
          });
        }
        yield { row, values: build(fields) };
      }
    } finally {
      release();
    }
  }

  return { header, records: records() };
};

function csvError(err: unknown, name: string, path: string, rowsSoFar: number): Error {
  if (err instanceof CsvError) {
    // err.records counts the records parsed before the bad one, header included: that is the bad data row's number.
    const row = typeof err.records === 'number' ? err.records : rowsSoFar + 1;
    const where = row >= 1 ? `row ${row}` : 'the header row';
    return formatError(name, `is not valid CSV at ${where}: ${err.message}`, { row, code: err.code });
  }
  return ioError(err, name, path);
}
