import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { formatError } from '../../sources/readers/common';
import type { ChunkRange } from '../plan';
import { decodeRecords } from './decode';
import { BOM, F_BAD_QUOTE, F_CTRL, F_UNTERMINATED, LF, QUOTE, RecordScanner } from './scan';
import { firstInvalidUtf8 } from './utf8';

// Where a CSV file's data starts (its header, checked) and where it can be cut into chunks.

/** A single record (a line, or a quoted field spanning lines) longer than this is treated as broken quoting. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
const READ_BYTES = 4 * 1024 * 1024;

/** What the first bytes say a file is, when it is clearly not CSV text. */
function sniffNotText(head: Buffer): string | undefined {
  const starts = (s: string) => head.subarray(0, s.length).equals(Buffer.from(s, 'latin1'));
  if (starts('PK\u0003\u0004')) return 'is a zip archive (an Excel .xlsx workbook?), not CSV text';
  if (starts('PAR1')) return 'is a Parquet file, not CSV text';
  if (starts('%PDF')) return 'is a PDF document, not CSV text';
  if (starts('\u00d0\u00cf\u0011\u00e0')) return 'is an old Excel/Office (.xls) file, not CSV text';
  if (starts('\u00ff\u00fe') || starts('\u00fe\u00ff')) return 'is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8';
  const nul = head.indexOf(0);
  if (nul !== -1) return `contains a NUL byte at byte offset ${nul}: this looks like a binary file, not UTF-8 CSV text`;
  return undefined;
}

async function readBytesAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/**
 * Reads and checks a CSV file's header: returns the names, the byte offset where the data starts, and the bytes before
 * it as read (the plan checks them against the bytes it hashes).
 */
export async function probeCsvHeader(path: string, file: string, size: number): Promise<{ header: string[]; dataStart: number; head: Buffer }> {
  if (size === 0) throw formatError(file, 'is empty: expected a header row');
  const fh = await open(path, 'r');
  try {
    let length = Math.min(size, 64 * 1024);
    for (;;) {
      const buf = await readBytesAt(fh, 0, length);
      const notText = sniffNotText(buf);
      if (notText) throw formatError(file, notText);
      const last = buf.length >= size;
      let p = buf.subarray(0, 3).equals(BOM) ? 3 : 0;
      const scanner = new RecordScanner(4096);
      let next = -1;
      // the header is the first non-blank line
      for (;;) {
        next = scanner.scan(buf, p, buf.length, last);
        if (next < 0 || scanner.contentEnd > p || scanner.fields > 1) break;
        if (next >= buf.length) break;
        p = next;
      }
      if (next < 0) {
        if (length >= MAX_RECORD_BYTES) throw formatError(file, `has no line end in its first ${MAX_RECORD_BYTES} bytes: not a CSV file (or an unclosed quote in the header)`);
        length = Math.min(size, length * 4);
        continue;
      }
      if (scanner.contentEnd === p && scanner.fields === 1) throw formatError(file, 'is empty: expected a header row');
      const record = buf.subarray(p, next);
      if (!isUtf8(record)) {
        throw formatError(file, `is not valid UTF-8 text (header row, byte offset ${p + Math.max(0, firstInvalidUtf8(record))}): save it as UTF-8`);
      }
      if (scanner.flags & (F_UNTERMINATED | F_BAD_QUOTE)) throw formatError(file, 'has a badly quoted header row');
      if (scanner.flags & F_CTRL && record.includes(13)) {
        throw formatError(file, 'uses bare CR line ends (old Mac format), or has a carriage return inside the header: convert it to LF or CRLF line ends');
      }
      if (scanner.fields > scanner.capacity) throw formatError(file, `has ${scanner.fields} columns in its header: too many`);
      // header names as found: decoded by csv-parse, trimmed
      return { header: (decodeRecords(record)[0] ?? []).map((name) => name.trim()), dataStart: next, head: Buffer.from(buf.subarray(0, next)) };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Finds where the data part of a CSV file, [dataStart, size), can be cut into chunks of about `chunkBytes`, each
 * cut at a record start, from the file's bytes as they stream past in order (the plan's hashing pass, so the cuts are
 * found in exactly the bytes that were hashed). Records are found with the loader's own scanner, so a line break
 * inside a quoted field is never a cut; a run of records without any quote byte ends at each line feed (the
 * scanner's rule), so it is jumped over with indexOf instead of being scanned byte by byte.
 */
export class CsvCutFinder {
  private readonly targets: number[] = [];
  private readonly cuts: number[] = [];
  private readonly scanner = new RecordScanner(0);
  private t = 0;
  /** Unscanned bytes: the tail of the last part (copied: the caller reuses its buffer), then the new part. */
  private buf: Buffer = Buffer.alloc(0);
  /** File offset of buf[0]; base + buf.length is where the next part must start. */
  private base: number;

  constructor(
    private readonly file: string,
    private readonly size: number,
    private readonly dataStart: number,
    chunkBytes: number,
  ) {
    for (let t = dataStart + chunkBytes; t < size; t += chunkBytes) this.targets.push(t);
    this.base = dataStart;
  }

  /** The file's bytes [position, position + part.length), given in order from the start (or from dataStart). */
  push(part: Buffer, position: number): void {
    const end = position + part.length;
    const seen = this.base + this.buf.length;
    if (this.t >= this.targets.length || end <= seen) return;
    if (position > seen) throw new Error(`CsvCutFinder: bytes ${seen}..${position} of ${this.file} were skipped`);
    const fresh = part.subarray(seen - position);
    this.buf = this.buf.length === 0 ? fresh : Buffer.concat([this.buf, fresh]);
    const p = this.scan(end >= this.size);
    this.base += p;
    const tail = this.buf.subarray(p);
    if (tail.length > MAX_RECORD_BYTES) throw formatError(this.file, `has a record longer than ${MAX_RECORD_BYTES} bytes at byte offset ${this.base}: an unclosed quote?`);
    this.buf = Buffer.from(tail);
  }

  /** Scans buf from its start; returns where the first record not yet complete starts. */
  private scan(last: boolean): number {
    const { buf, targets, cuts, base, size } = this;
    const cut = (at: number) => {
      if (at < size && (cuts.length === 0 || at > cuts[cuts.length - 1]!)) cuts.push(at);
    };
    let p = 0;
    let quote = -2; // the next quote byte at or after p (-1: none left in buf), -2: not looked up yet
    while (this.t < targets.length && p < buf.length) {
      if (quote !== -1 && quote < p) quote = buf.indexOf(QUOTE, p);
      const limit = quote < 0 ? buf.length : quote;
      // (never lastIndexOf at a negative offset: Buffer counts that from the end)
      const lastLf = limit > p ? buf.lastIndexOf(LF, limit - 1) : -1;
      if (lastLf >= p) {
        // records without a quote up to lastLf: the first record start at or after a target is after a line feed
        while (this.t < targets.length && targets[this.t]! - base <= lastLf + 1) {
          cut(base + buf.indexOf(LF, Math.max(p, targets[this.t]! - base - 1)) + 1);
          this.t++;
        }
        p = lastLf + 1;
        if (this.t >= targets.length || p >= buf.length) break;
      }
      const next = this.scanner.scan(buf, p, buf.length, last);
      if (next < 0) break;
      p = next;
      while (this.t < targets.length && base + p >= targets[this.t]!) {
        cut(base + p);
        this.t++;
      }
    }
    return p;
  }

  chunks(): ChunkRange[] {
    return chunkRanges([this.dataStart, ...this.cuts, this.size]);
  }
}

/** The chunks of a CSV file read on its own, in order (the plan finds them while hashing, with the same CsvCutFinder). */
export async function planCsvChunks(path: string, size: number, dataStart: number, chunkBytes: number): Promise<ChunkRange[]> {
  const finder = new CsvCutFinder(path, size, dataStart, chunkBytes);
  const fh = await open(path, 'r');
  try {
    for (let pos = dataStart; pos < size; pos += READ_BYTES) finder.push(await readBytesAt(fh, pos, Math.min(READ_BYTES, size - pos)), pos);
  } finally {
    await fh.close();
  }
  return finder.chunks();
}

function chunkRanges(bounds: number[]): ChunkRange[] {
  const chunks: ChunkRange[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) chunks.push({ chunk: k, byteStart: bounds[k]!, byteEnd: bounds[k + 1]! });
  return chunks;
}
