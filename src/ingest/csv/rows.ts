import { isUtf8 } from 'node:buffer';
import { setOwn } from '../../sources/readers/common';
import type { ColumnKind, SourceSpec } from '../../sources/types';
import { fileColumns, validateRecord } from '../../sources/validate';
import type { RejectedRow } from '../batch';
import { rejectFromErrors } from '../batch';
import { csvField } from '../encode';
import { KIND_CODE, checkDate, checkInt, checkNumeric, checkText, checkTimestamp, parsed } from './fast-validate';
import { EOL_CRLF, EOL_LF, EOL_NONE, F_BAD_QUOTE, F_UNTERMINATED, LF, QUOTE, RecordScanner, fieldText } from './scan';
import { firstInvalidUtf8 } from './utf8';

/** How the columns of one file line up with the source: built once per load, after the header check. */
export interface CsvLayout {
  spec: SourceSpec;
  displayName: string;
  /** Header names in file order. */
  header: string[];
  /** Staging column names in file order (the COPY column list). */
  names: string[];
  kinds: (ColumnKind | undefined)[];
  codes: Uint8Array;
  nullable: Uint8Array;
}

/** Lines the file's header (already checked against the source) up with the source's columns. */
export function csvLayout(spec: SourceSpec, header: string[], displayName: string): CsvLayout {
  const byHeader = new Map(fileColumns(spec).map((c) => [c.header, c.name]));
  const names = header.map((h) => {
    const name = byHeader.get(h);
    if (name === undefined) throw new Error(`header ${JSON.stringify(h)} does not belong to source ${spec.name} (checkHeader first)`);
    return name;
  });
  const kinds = names.map((n) => spec.columns[n]!.kind);
  return {
    spec,
    displayName,
    header,
    names,
    kinds,
    codes: Uint8Array.from(kinds.map((k) => KIND_CODE[k ?? 'custom'])),
    nullable: Uint8Array.from(names.map((n) => (spec.columns[n]!.nullable ? 1 : 0))),
  };
}

const EOL_BYTES = [Buffer.alloc(0), Buffer.from('\n'), Buffer.from('\r\n')];

/**
 * Turns blocks of CSV bytes into COPY input (FORMAT csv) and rejected rows.
 *
 * Fast path: a record without quotes whose every cell passes its kind's hand-written check (and the source's
 * cross-column rules) is sent as the very bytes it was read as: runs of such lines become one slice of the input
 * buffer, no strings are built. Everything else is decoded, validated by zod (validateRecord, the source of
 * truth) and either re-encoded as a clean CSV line or rejected with every reason.
 *
 * One instance serves one chunk; `startCopy()` before each COPY statement (the line-end style of a COPY stream must
 * not change midway, so a line is re-encoded when its line end differs from the stream's).
 */
export class CsvRowProcessor {
  private readonly scanner: RecordScanner;
  private readonly width: number;
  private readonly nums: Float64Array;
  private readonly times: Float64Array;
  private readonly refine: SourceSpec['refine'];
  /**
   * The row the refine rules see on the fast path: one object whose properties read the current record's cells on
   * demand (a rule that looks at 3 columns decodes 3 cells; nothing is stored per row). Rules must not keep it.
   */
  private readonly refineRow: Record<string, unknown> = {};
  /** The buffer of the record being checked (for refineRow). */
  private current: Buffer = Buffer.alloc(0);
  /** Line end of the current COPY stream (EOL_NONE until the first line is written). */
  private eol = EOL_NONE;

  /** Output of the current batch, in order. */
  pieces: Buffer[] = [];
  pieceBytes = 0;
  rejects: RejectedRow[] = [];
  /**
   * Where the current COPY stream's lines come from, to name the file row of a value PostgreSQL refuses: pairs
   * (0-based stream line, chunk row) at the start of each run of consecutive records (one line each on the fast path).
   */
  lineMap: number[] = [];
  /** Lines written to the current COPY stream (a re-encoded quoted value may span several). */
  streamLines = 0;
  /** Records read so far in this chunk (the last one's row number). */
  rowsRead = 0;
  rowsLoaded = 0;
  rowsRejected = 0;

  constructor(
    private readonly layout: CsvLayout,
    /** Row-keys mode: append the chunk number and row number to every line (columns _chunk, _row). */
    private readonly rowKeysChunk?: number,
  ) {
    this.width = layout.header.length;
    this.scanner = new RecordScanner(Math.max(this.width + 64, 256));
    this.nums = new Float64Array(this.width);
    this.times = new Float64Array(this.width);
    this.refine = layout.spec.refine;
    layout.names.forEach((name, k) => Object.defineProperty(this.refineRow, name, { enumerable: true, get: () => this.cell(k) }));
  }

  /** A new COPY statement begins: forget the line-end style, drop the output of the previous batch. */
  startCopy(): void {
    this.eol = EOL_NONE;
    this.pieces = [];
    this.pieceBytes = 0;
    this.rejects = [];
    this.lineMap = [];
    this.streamLines = 0;
  }

  /** The chunk row of line `line` (1-based, as PostgreSQL counts) of the current COPY stream. */
  rowOfStreamLine(line: number): number | undefined {
    const map = this.lineMap;
    for (let i = map.length - 2; i >= 0; i -= 2) {
      if (map[i]! <= line - 1) return map[i + 1]! + (line - 1 - map[i]!);
    }
    return undefined;
  }

  private mapLine(row: number): void {
    const map = this.lineMap;
    const n = map.length;
    // consecutive records on consecutive lines need no new entry
    if (n >= 2 && map[n - 1]! + (this.streamLines - map[n - 2]!) === row) return;
    map.push(this.streamLines, row);
  }

  private emit(piece: Buffer): void {
    this.pieces.push(piece);
    this.pieceBytes += piece.length;
  }

  /**
   * Processes the records in buf[start, end); `fileOffset` is the file position of buf[0] (for messages).
   * Returns the offset after the last record processed: less than `end` when the last record is incomplete and
   * `last` is false (the caller reads more and calls again with the rest), or when `maxRejects` rejects piled up
   * in this batch (the caller commits the batch first).
   */
  process(buf: Buffer, start: number, end: number, last: boolean, fileOffset: number, maxRejects = Infinity): number {
    const scanner = this.scanner;
    const width = this.width;
    const codes = this.layout.codes;
    const nullable = this.layout.nullable;
    const nums = this.nums;
    const times = this.times;
    const fs = scanner.fs;
    const fe = scanner.fe;
    const rowKeys = this.rowKeysChunk !== undefined;

    // UTF-8 validity, checked once for the whole stretch that ends at a line feed (never inside a character)
    const lastLf = last ? end - 1 : buf.lastIndexOf(LF, end - 1);
    const checkedEnd = lastLf < start ? start : lastLf + 1;
    const stretchUtf8 = checkedEnd > start && isUtf8(buf.subarray(start, checkedEnd));

    let runStart = -1;
    let runEnd = -1;
    let p = start;
    while (p < end) {
      const next = scanner.scan(buf, p, end, last);
      if (next < 0) break;
      const ls = p;
      p = next;
      const ce = scanner.contentEnd;
      if (ce === ls && scanner.fields === 1) {
        // blank line: not a record
        if (runStart >= 0) {
          this.emit(buf.subarray(runStart, runEnd));
          runStart = -1;
        }
        continue;
      }
      const row = ++this.rowsRead;
      let ok = scanner.flags === 0 && scanner.fields === width && (next <= checkedEnd ? stretchUtf8 : isUtf8(buf.subarray(ls, next)));
      if (ok) {
        for (let k = 0; k < width; k++) {
          const s = fs[k]!;
          const e = fe[k]!;
          if (s === e) {
            if (nullable[k] === 0) {
              ok = false;
              break;
            }
            nums[k] = NaN;
            continue;
          }
          const code = codes[k];
          if (code === 1) {
            if (!checkInt(buf, s, e)) {
              ok = false;
              break;
            }
            nums[k] = parsed.number;
          } else if (code === 2) {
            if (!checkNumeric(buf, s, e)) {
              ok = false;
              break;
            }
            nums[k] = parsed.number;
          } else if (code === 3) {
            if (!checkText(buf, s, e)) {
              ok = false;
              break;
            }
          } else if (code === 4) {
            if (!checkTimestamp(buf, s, e)) {
              ok = false;
              break;
            }
            times[k] = parsed.time;
          } else if (code === 5) {
            if (!checkDate(buf, s, e)) {
              ok = false;
              break;
            }
            times[k] = parsed.time;
          } else {
            ok = false;
            break;
          }
        }
        // a line that is exactly "\." would end COPY's input early: re-encode it (quoted)
        if (ok && ce - ls === 2 && buf[ls] === 0x5c && buf[ls + 1] === 0x2e) ok = false;
        if (ok && this.refine !== undefined) {
          this.current = buf;
          if (this.refine(this.refineRow).length > 0) ok = false;
        }
      }

      if (ok && !rowKeys) {
        const eol = scanner.eol;
        if (this.eol === EOL_NONE) this.eol = eol === EOL_NONE ? EOL_LF : eol;
        this.mapLine(row);
        this.streamLines++;
        if (eol === this.eol) {
          if (runStart < 0) runStart = ls;
          runEnd = next;
        } else {
          if (runStart >= 0) {
            this.emit(buf.subarray(runStart, runEnd));
            runStart = -1;
          }
          this.emit(buf.subarray(ls, ce));
          this.emit(EOL_BYTES[this.eol]!);
        }
        this.rowsLoaded++;
        continue;
      }
      if (runStart >= 0) {
        this.emit(buf.subarray(runStart, runEnd));
        runStart = -1;
      }
      if (ok) {
        // row-keys mode: the line as read plus ",<chunk>,<row>"
        if (this.eol === EOL_NONE) this.eol = EOL_LF;
        this.mapLine(row);
        this.streamLines++;
        this.emit(buf.subarray(ls, ce));
        this.emit(Buffer.from(`,${this.rowKeysChunk},${row}${this.eol === EOL_CRLF ? '\r\n' : '\n'}`, 'latin1'));
        this.rowsLoaded++;
        continue;
      }
      this.slowRow(buf, ls, next, row, fileOffset);
      if (this.rejects.length >= maxRejects) break;
    }
    if (runStart >= 0) this.emit(buf.subarray(runStart, runEnd));
    return p;
  }

  /** The value of cell k of the record the scanner holds, as the refine rules expect it (fast path only). */
  private cell(k: number): unknown {
    const s = this.scanner.fs[k]!;
    const e = this.scanner.fe[k]!;
    if (s === e) return null;
    const code = this.layout.codes[k];
    if (code === 1 || code === 2) return this.nums[k];
    if (code === 4 || code === 5) return new Date(this.times[k]!);
    return this.current.toString('utf8', s, e);
  }

  /** The record decoded, as {header: text}, with extra fields under "(extra field N)". */
  private rawRecord(buf: Buffer): Record<string, unknown> {
    const sc = this.scanner;
    const raw: Record<string, unknown> = {};
    const n = Math.min(sc.fields, sc.capacity);
    for (let k = 0; k < n; k++) {
      const key = k < this.width ? this.layout.header[k]! : `(extra field ${k + 1})`;
      setOwn(raw, key, fieldText(buf, sc.fs[k]!, sc.fe[k]!, sc.fq[k]!));
    }
    return raw;
  }

  private reject(row: number, raw: Record<string, unknown>, errors: string[], kinds: string[]): void {
    this.rejects.push({ row, raw, errors, kinds });
    this.rowsRejected++;
  }

  /** Everything the fast path would not vouch for: decode, check the structure, validate with zod, encode or reject. */
  private slowRow(buf: Buffer, ls: number, next: number, row: number, fileOffset: number): void {
    const sc = this.scanner;
    const { header, names, kinds } = this.layout;
    const width = this.width;

    if (!isUtf8(buf.subarray(ls, next))) {
      const bad = ls + Math.max(0, firstInvalidUtf8(buf.subarray(ls, next)));
      const byte = buf[bad] ?? 0;
      this.reject(row, this.rawRecord(buf), [
        `not valid UTF-8 text: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${fileOffset + bad} of the file ` +
          `(is the file in another encoding, e.g. Windows-1252 or Latin-1? save it as UTF-8)`,
      ], ['not valid UTF-8 text']);
      return;
    }
    const raw = this.rawRecord(buf);
    if (sc.flags & F_UNTERMINATED) {
      this.reject(row, raw, ['a quoted field is not closed before the end of the file (is the file truncated?)'], ['unclosed quoted field']);
      return;
    }
    if (sc.fields !== width) {
      const truncated = sc.eol === EOL_NONE && sc.fields < width ? ' (the last line of the file looks truncated)' : '';
      this.reject(row, raw, [`has ${sc.fields} field(s) but the header has ${width}${truncated}`], ['wrong number of fields']);
      return;
    }
    const errors: string[] = [];
    const kindsSeen: string[] = [];
    if (sc.flags & F_BAD_QUOTE) {
      for (let k = 0; k < width; k++) {
        const s = sc.fs[k]!;
        const e = sc.fe[k]!;
        const q = buf.indexOf(QUOTE, s);
        const inField = q !== -1 && q < e;
        if (!inField) continue;
        if (!sc.fq[k]) errors.push(`column ${header[k]}: a double quote inside an unquoted field (quote the whole field and double the quote: "12"" pizza")`);
        else if (buf[e - 1] !== QUOTE) errors.push(`column ${header[k]}: text after the closing quote of a quoted field`);
      }
      if (errors.length === 0) errors.push('badly quoted field');
      kindsSeen.push('bad quoting');
    }
    for (let k = 0; k < width; k++) {
      const v = raw[header[k]!];
      if (typeof v === 'string' && v.includes('\u0000')) {
        errors.push(`column ${header[k]}: contains a NUL byte (binary data?)`);
        kindsSeen.push(`${header[k]}: contains a NUL byte`);
      }
    }
    if (errors.length > 0) {
      this.reject(row, raw, errors, [...new Set(kindsSeen)]);
      return;
    }
    const result = validateRecord(this.layout.spec, { row, values: raw });
    if (!result.ok) {
      const r = rejectFromErrors(row, raw, result.errors);
      this.reject(row, raw, r.errors, r.kinds);
      return;
    }
    let line = '';
    for (let k = 0; k < width; k++) {
      if (k > 0) line += ',';
      line += csvField(result.row[names[k]!], kinds[k]);
    }
    if (this.rowKeysChunk !== undefined) line += `,${this.rowKeysChunk},${row}`;
    if (this.eol === EOL_NONE) this.eol = EOL_LF;
    line += this.eol === EOL_CRLF ? '\r\n' : '\n';
    this.mapLine(row);
    // a quoted value with line breaks spans several lines of the stream (PostgreSQL counts them)
    let breaks = 0;
    for (let i = line.indexOf(this.eol === EOL_CRLF ? '\r' : '\n'); i !== -1; i = line.indexOf(this.eol === EOL_CRLF ? '\r' : '\n', i + 1)) breaks++;
    this.streamLines += breaks;
    this.emit(Buffer.from(line, 'utf8'));
    this.rowsLoaded++;
  }
}
