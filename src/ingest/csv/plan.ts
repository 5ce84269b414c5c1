import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { formatError } from '../../sources/readers/common';
import type { ChunkRange } from '../plan';
import type { PlannedBytes } from '../verify';
import { VerifiedReader } from '../verify';
import { decodeRecords } from './decode';
import { BOM, F_BAD_QUOTE, F_CTRL, F_UNTERMINATED, LF, RecordScanner } from './scan';
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
 * Cuts the data part of a CSV file, [dataStart, size), into chunks of about `chunkBytes`, each starting at a record
 * start. Without any quote in the file a record starts after every line feed. With quotes, the file is scanned record
 * by record from the data start with the loader's own scanner, so a line break inside a quoted field is never a cut.
 * With the plan's block hashes (`hashed`), every byte this read looks at comes from a block that matched them: the cuts
 * are found in the bytes hashed, so a change made while planning and undone later cannot place a cut inside a record.
 */
export async function planCsvChunks(path: string, size: number, dataStart: number, chunkBytes: number, quotes: boolean, hashed?: PlannedBytes): Promise<ChunkRange[]> {
  const targets: number[] = [];
  for (let t = dataStart + chunkBytes; t < size; t += chunkBytes) targets.push(t);
  const cuts: number[] = [];
  const fh = await open(path, 'r');
  const verified = hashed?.blockSha256 ? new VerifiedReader(fh, hashed) : undefined;
  const readAt = async (position: number, length: number): Promise<Buffer> => {
    if (!verified) return readBytesAt(fh, position, length);
    const buf = Buffer.allocUnsafe(length);
    await verified.read(buf, 0, length, position);
    return buf;
  };
  try {
    if (!quotes) {
      for (const target of targets) {
        // a record starts right after the first line feed at or after target - 1
        let found = -1;
        for (let pos = target - 1; pos < size && found < 0; pos += 64 * 1024) {
          const buf = await readAt(pos, Math.min(64 * 1024, size - pos));
          const i = buf.indexOf(LF);
          if (i >= 0) found = pos + i + 1;
        }
        if (found > 0 && found < size && (cuts.length === 0 || found > cuts[cuts.length - 1]!)) cuts.push(found);
      }
    } else {
      const scanner = new RecordScanner(0);
      let t = 0;
      let base = dataStart; // file offset of buf[0]
      let buf = Buffer.alloc(0);
      let p = 0;
      while (t < targets.length && base + p < size) {
        // refill: keep the unprocessed tail, append the next block
        const tail = buf.subarray(p);
        if (tail.length > MAX_RECORD_BYTES) throw formatError(path, `has a record longer than ${MAX_RECORD_BYTES} bytes at byte offset ${base + p}: an unclosed quote?`);
        const more = await readAt(base + buf.length, Math.min(READ_BYTES, size - base - buf.length));
        base += p;
        buf = Buffer.concat([tail, more]);
        p = 0;
        const last = base + buf.length >= size;
        for (;;) {
          const next = scanner.scan(buf, p, buf.length, last);
          if (next < 0) break;
          p = next;
          while (t < targets.length && base + p >= targets[t]!) {
            if (base + p < size && (cuts.length === 0 || base + p > cuts[cuts.length - 1]!)) cuts.push(base + p);
            t++;
          }
          if (p >= buf.length) break;
        }
      }
    }
  } finally {
    await fh.close();
  }
  const bounds = [dataStart, ...cuts, size];
  const chunks: ChunkRange[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) chunks.push({ chunk: k, byteStart: bounds[k]!, byteEnd: bounds[k + 1]! });
  return chunks;
}
