import { isUtf8 } from 'node:buffer';
import type { SourceSpec } from '../../sources/types';
import { validateRecord } from '../../sources/validate';
import type { RejectedRow } from '../batch';
import { rejectFromErrors } from '../batch';
import { csvField } from '../encode';
import { decodeRun } from './decode';
import { nulReasons, rawRecord, structuralReasons } from './declined';
import type { Declined } from './declined';
import { checkDate, checkQuotedText, checkDecimal, checkInt, checkNumeric, checkText, checkTimestamp, isoShaped, matchDateFormats, parsed } from './fast-validate';
import type { CsvLayout } from './layout';
import { EOL_CRLF, EOL_LF, F_QUOTED, LF, RecordScanner } from './scan';
import { CopyOutput, EOL_BYTES } from './copy-output';

/** How a cell that passed its check is written: its bytes as read, trimmed, or its date in ISO form. */
const AS_READ = 0;
const TRIMMED = 1;
const ISO_DATE = 2;

/** At most this many declined records wait for one csv-parse call. */
const MAX_DECLINED_RUN = 2048;

/**
 * Turns blocks of CSV bytes into COPY input (FORMAT csv) and rejected rows.
 *
 * Fast path: a record whose every cell passes its kind's compiled check (and the source's cross-column rules) is
 * sent as the very bytes it was read as: runs of such lines become one slice of the input buffer, no strings are
 * built. A cell zod would trim, or a date in one of the column's own formats, is checked the same way and the line
 * is rewritten with the trimmed bytes or the ISO date. Quoted text cells pass as they are (PostgreSQL unquotes them
 * as csv-parse would). Everything else is decoded by csv-parse (runs of such records in one call), validated by zod
 * (validateRecord, the source of truth) and either re-encoded as a clean CSV line or rejected with every reason.
 *
 * One instance serves one chunk; `startCopy()` before each COPY statement (the line-end style of a COPY stream must
 * not change midway, so a line is rewritten when its line end differs from the stream's).
 */
export class CsvRowProcessor {
  private readonly scanner: RecordScanner;
  private readonly width: number;
  private readonly nums: Float64Array;
  private readonly times: Float64Array;
  /** ISO_DATE cells: the date as y * 10000 + m * 100 + d. */
  private readonly ymd: Int32Array;
  /** Per cell of the current record: how it is written (AS_READ, TRIMMED, ISO_DATE) and its trimmed bounds. */
  private readonly mode: Uint8Array;
  private readonly ts: Int32Array;
  private readonly te: Int32Array;
  private readonly refine: SourceSpec['refine'];
  /**
   * The row the refine rules see on the fast path: one object whose properties read the current record's cells on
   * demand (a rule that looks at 3 columns decodes 3 cells; nothing is stored per row). Rules must not keep it.
   */
  private readonly refineRow: Record<string, unknown> = {};
  /** The buffer of the record being checked (for refineRow). */
  private current: Buffer = Buffer.alloc(0);
  private declined: Declined[] = [];
  /** The COPY input being written (copy-output.ts). */
  private readonly output = new CopyOutput();

  /** Output of the current batch, in order (the caller empties it once written). */
  /** The COPY input written since the last call (the caller sends it). */
  takePieces(): Buffer[] {
    return this.output.takePieces();
  }
  /** Rows PostgreSQL refused in an earlier try of this batch, by chunk row: rejected with that reason when met again. */
  refusedRows: Map<number, { errors: string[]; kinds: string[] }> | undefined;

  rejects: RejectedRow[] = [];
  /** Line ends (LF) in the chunk before `lfPos` of the buffer being processed: the chunk's lines consumed so far. */
  linesDone = 0;
  private lfPos = 0;
  /** Records read so far in this chunk (the last one's row number). */
  rowsRead = 0;
  rowsLoaded = 0;
  rowsRejected = 0;

  constructor(
    private readonly layout: CsvLayout,
    /** Row-keys mode: append the chunk number, row number and chunk line to every line (columns _chunk, _row, _line). */
    private readonly rowKeysChunk?: number,
  ) {
    this.width = layout.header.length;
    this.scanner = new RecordScanner(Math.max(this.width + 64, 256));
    this.nums = new Float64Array(this.width);
    this.times = new Float64Array(this.width);
    this.ymd = new Int32Array(this.width);
    this.mode = new Uint8Array(this.width);
    this.ts = new Int32Array(this.width);
    this.te = new Int32Array(this.width);
    this.refine = layout.spec.refine;
    layout.names.forEach((name, k) => Object.defineProperty(this.refineRow, name, { enumerable: true, get: () => this.cell(k) }));
  }

  /** A new COPY statement begins: forget the line-end style, drop the output of the previous batch. */
  startCopy(): void {
    this.output.startCopy();
    this.rejects = [];
  }

  /** The chunk row of line `line` (1-based, as PostgreSQL counts) of the current COPY stream. */
  rowOfStreamLine(line: number): number | undefined {
    return this.output.rowOfStreamLine(line);
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
    const { codes, nullable, dateFormats } = this.layout;
    const { nums, times, ymd, mode, ts, te } = this;
    const fs = scanner.fs;
    const fe = scanner.fe;
    const fq = scanner.fq;
    const rowKeys = this.rowKeysChunk !== undefined;
    this.lfPos = start;

    // UTF-8 validity, checked once for the whole stretch that ends at a line feed (never inside a character);
    // record by record only when the stretch holds an invalid byte somewhere
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
          this.output.emit(buf.subarray(runStart, runEnd));
          runStart = -1;
        }
        if (this.declined.length > 0 && this.decodeDeclined(buf, maxRejects)) return this.stopAfterLastAccepted(buf);
        continue;
      }
      const row = ++this.rowsRead;
      let ok = (scanner.flags & ~F_QUOTED) === 0 && scanner.fields === width && ((next <= checkedEnd && stretchUtf8) || isUtf8(buf.subarray(ls, next)));
      let rewrite = false;
      if (ok) {
        for (let k = 0; k < width; k++) {
          let s = fs[k]!;
          let e = fe[k]!;
          mode[k] = AS_READ;
          const code = codes[k];
          if (fq[k] === 1) {
            // a quoted cell: text only, as PostgreSQL will unquote it (decoded by csv-parse only if a rule reads it)
            if (code !== 3 || !checkQuotedText(buf, s, e)) {
              ok = false;
              break;
            }
            ts[k] = s;
            te[k] = e;
            continue;
          }
          // spaces and tabs around a cell: zod trims them, so the line is written without them
          if (s < e && (buf[s] === 32 || buf[s] === 9 || buf[e - 1] === 32 || buf[e - 1] === 9)) {
            while (s < e && (buf[s] === 32 || buf[s] === 9)) s++;
            while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
            mode[k] = TRIMMED;
            rewrite = true;
          }
          ts[k] = s;
          te[k] = e;
          if (s === e) {
            if (nullable[k] === 0) {
              ok = false;
              break;
            }
            nums[k] = NaN;
            continue;
          }
          if (code === 1) {
            if (!checkInt(buf, s, e)) {
              ok = false;
              break;
            }
            nums[k] = parsed.number;
          } else if (code === 2) {
            if (checkNumeric(buf, s, e)) nums[k] = parsed.number;
            else if (checkDecimal(buf, s, e)) nums[k] = Number(buf.toString('latin1', s, e));
            else {
              ok = false;
              break;
            }
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
            if (checkDate(buf, s, e)) times[k] = parsed.time;
            else {
              const t = isoShaped(buf, s, e) ? undefined : matchDateFormats(dateFormats[k], buf, s, e);
              if (t === undefined) {
                ok = false;
                break;
              }
              times[k] = t;
              ymd[k] = parsed.ymd;
              mode[k] = ISO_DATE;
              rewrite = true;
            }
          } else {
            ok = false;
            break;
          }
        }
        // a line that is exactly "\." would end COPY's input early: it goes the slow way (and is written quoted)
        if (ok && width === 1 && mode[0] !== ISO_DATE && te[0]! - ts[0]! === 2 && buf[ts[0]!] === 0x5c && buf[ts[0]! + 1] === 0x2e) ok = false;
        if (ok && this.refine !== undefined) {
          this.current = buf;
          if (this.refine(this.refineRow).length > 0) ok = false;
        }
        if (ok && this.refusedRows?.has(row)) ok = false;
      }

      if (!ok) {
        if (runStart >= 0) {
          this.output.emit(buf.subarray(runStart, runEnd));
          runStart = -1;
        }
        this.decline(buf, ls, next, row, fileOffset);
        if (this.declined.length >= MAX_DECLINED_RUN && this.decodeDeclined(buf, maxRejects)) return this.stopAfterLastAccepted(buf);
        continue;
      }
      if (this.declined.length > 0 && this.decodeDeclined(buf, maxRejects)) return this.stopAfterLastAccepted(buf);
      this.rowsLoaded++;
      // one line of the stream: the fast path takes no quoted line break
      this.output.mapLine(row);
      if (!rewrite && !rowKeys) {
        const eol = scanner.eol;
        if (eol === this.output.lineEnd(eol)) {
          if (runStart < 0) runStart = ls;
          runEnd = next;
        } else {
          if (runStart >= 0) {
            this.output.emit(buf.subarray(runStart, runEnd));
            runStart = -1;
          }
          this.output.emit(buf.subarray(ls, ce));
          this.output.emit(EOL_BYTES[this.output.eol]!);
        }
        continue;
      }
      // a rewritten line (trimmed cells, ISO dates) and/or row keys (",<chunk>,<row>")
      if (runStart >= 0) {
        this.output.emit(buf.subarray(runStart, runEnd));
        runStart = -1;
      }
      if (!rewrite) this.output.put(buf, ls, ce);
      else {
        // the line as read, but for the cells written otherwise: copied in as few stretches as possible
        let from = ls;
        for (let k = 0; k < width; k++) {
          const m = mode[k];
          if (m === AS_READ) continue;
          this.output.put(buf, from, fs[k]!);
          if (m === ISO_DATE) this.output.putDate(ymd[k]!);
          else this.output.put(buf, ts[k]!, te[k]!);
          from = fe[k]!;
        }
        this.output.put(buf, from, ce);
      }
      if (rowKeys) this.output.putText(`,${this.rowKeysChunk},${row},${this.lineAt(buf, ls)}`);
      this.output.putText(this.output.lineEnd(scanner.eol) === EOL_CRLF ? '\r\n' : '\n');
    }
    if (runStart >= 0) this.output.emit(buf.subarray(runStart, runEnd));
    if (this.declined.length > 0 && this.decodeDeclined(buf, maxRejects)) return this.stopAfterLastAccepted(buf);
    this.output.flushOut();
    this.lineAt(buf, p);
    return p;
  }

  /** The chunk line (1-based) of the record starting at `pos` (counting the line ends before it, lazily, in order). */
  private lineAt(buf: Buffer, pos: number): number {
    for (let i = buf.indexOf(LF, this.lfPos); i !== -1 && i < pos; i = buf.indexOf(LF, i + 1)) this.linesDone++;
    this.lfPos = pos;
    return this.linesDone + 1;
  }

  /** After decodeDeclined stopped at maxRejects: what follows the last record it handled is read again later. */
  private stopped = { end: 0, row: 0 };
  private stopAfterLastAccepted(buf: Buffer): number {
    this.rowsRead = this.stopped.row;
    this.output.flushOut();
    this.lineAt(buf, this.stopped.end);
    return this.stopped.end;
  }

  /** The value of cell k of the record the scanner holds, as the refine rules expect it (fast path only). */
  private cell(k: number): unknown {
    const s = this.ts[k]!;
    const e = this.te[k]!;
    if (s === e) return null;
    const code = this.layout.codes[k];
    if (code === 1 || code === 2) return this.nums[k];
    if (code === 4 || code === 5) return new Date(this.times[k]!);
    // a quoted text cell: quotes off, doubled quotes undone (the scanner vouched for its quoting)
    if (this.scanner.fq[k] === 1) return this.current.toString('utf8', s + 1, e - 1).replaceAll('""', '"');
    return this.current.toString('utf8', s, e);
  }

  /** Queues a record the fast path would not vouch for, with the reasons its structure alone gives for rejecting it. */
  private decline(buf: Buffer, ls: number, next: number, row: number, fileOffset: number): void {
    const d: Declined = { start: ls, end: next, row, fields: this.scanner.fields };
    const reasons = structuralReasons(buf, d, this.scanner, this.layout.header, fileOffset);
    if (reasons) d.reasons = reasons;
    this.declined.push(d);
  }

  /**
   * Decodes the queued records with csv-parse (one call for the run), then validates, writes or rejects each in
   * order. Returns true when it stopped early because `maxRejects` rejects piled up (this.stopped says where).
   */
  private decodeDeclined(buf: Buffer, maxRejects: number): boolean {
    this.output.flushOut();
    const queue = this.declined;
    this.declined = [];
    const first = queue[0]!.start;
    const records = decodeRun(
      buf.subarray(first, queue.at(-1)!.end),
      queue.map((d) => d.fields),
      (i) => buf.subarray(queue[i]!.start, queue[i]!.end),
    );
    for (let i = 0; i < queue.length; i++) {
      const d = queue[i]!;
      this.slowRow(d, records[i] ?? null, buf);
      if (this.rejects.length >= maxRejects) {
        this.stopped = { end: d.end, row: d.row };
        return true;
      }
    }
    return false;
  }

  private line = 0;

  private reject(row: number, raw: Record<string, unknown>, errors: string[], kinds: string[]): void {
    this.rejects.push({ row, line: this.line, raw, errors, kinds });
    this.rowsRejected++;
  }

  /** A declined record, decoded: reject it for its structure, or validate it with zod, then write or reject it. */
  private slowRow(d: Declined, fields: string[] | null, buf: Buffer): void {
    const { header, names, kinds } = this.layout;
    const width = this.width;
    const row = d.row;
    this.line = this.lineAt(buf, d.start);
    const raw = rawRecord(fields, buf, d, this.layout.header, this.scanner.capacity);
    // rejected for its structure, or for NUL bytes, whatever zod would say of its values
    const early = d.reasons ?? nulReasons(raw, header) ?? this.refusedRows?.get(row);
    if (early) {
      this.reject(row, raw, early.errors, early.kinds);
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
    if (this.rowKeysChunk !== undefined) line += `,${this.rowKeysChunk},${row},${this.line}`;
    line += this.output.lineEnd(EOL_LF) === EOL_CRLF ? '\r\n' : '\n';
    // a quoted value with line breaks spans several lines of the stream (PostgreSQL counts them)
    const lf = this.output.eol === EOL_CRLF ? '\r' : '\n';
    let lines = 0;
    for (let i = line.indexOf(lf); i !== -1; i = line.indexOf(lf, i + 1)) lines++;
    this.output.mapLine(row, lines);
    this.output.putText(line);
    this.rowsLoaded++;
  }
}
