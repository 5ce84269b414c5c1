// A byte-level CSV record scanner (RFC 4180: comma separated, double-quoted fields with "" for a quote, quoted
// fields may hold commas and line breaks; LF or CRLF line ends). It works on Buffers, never builds strings for
// well-formed unquoted records, and never throws on bad data: it reports what it saw and lets the caller reject
// the row. One scanner serves the loader (records and their fields) and the planner (where records start, so a
// file can be cut into chunks without splitting a quoted line break).
//
// Where one record ends is decided the same way everywhere:
// - a line feed outside a quoted field ends the record; a CR right before it belongs to the line end;
// - a quote opens a quoted field only as the first byte of a field; it closes at the next quote not doubled;
// - a quote anywhere else (a "stray" quote, e.g. 12" pizza) is an ordinary byte, flagged as an error.
// So a stray quote never swallows the following lines, and a chunk boundary planned by scanning from the start of
// the data is exactly where the loader will see a record start.

export const LF = 10;
export const CR = 13;
export const COMMA = 44;
export const QUOTE = 34;

/** Flags of a scanned record. */
export const F_QUOTED = 1; // at least one quoted field: the raw bytes are not the values
export const F_CTRL = 2; // a control byte (other than TAB) in the record, e.g. a lone CR or a NUL
export const F_BAD_QUOTE = 4; // a stray quote, or a closing quote followed by something other than , or a line end
export const F_UNTERMINATED = 8; // a quoted field still open at the end of the data

export const EOL_NONE = 0;
export const EOL_LF = 1;
export const EOL_CRLF = 2;

/**
 * Scans one record at a time. After a successful scan: `fields` fields with bounds in fs/fe (end exclusive,
 * quotes included for quoted fields, whose fq entry is 1), `contentEnd` (where the line end starts), `eol`, `flags`.
 * Fields beyond the capacity are counted but not stored.
 */
export class RecordScanner {
  readonly fs: Int32Array;
  readonly fe: Int32Array;
  readonly fq: Uint8Array;
  fields = 0;
  contentEnd = 0;
  eol = EOL_NONE;
  flags = 0;

  constructor(readonly capacity: number) {
    this.fs = new Int32Array(capacity);
    this.fe = new Int32Array(capacity);
    this.fq = new Uint8Array(capacity);
  }

  private push(start: number, end: number, quoted: number): void {
    const n = this.fields++;
    if (n < this.capacity) {
      this.fs[n] = start;
      this.fe[n] = end;
      this.fq[n] = quoted;
    }
  }

  /**
   * Scans the record starting at `p` in buf[p, end). Returns the offset just past it (past its line end), or -1 when
   * the record is not complete before `end` and more data may follow (`last` false). With `last`, the data ends at
   * `end`: a final record without a line end is complete, an open quoted field is flagged F_UNTERMINATED.
   */
  scan(buf: Buffer, p: number, end: number, last: boolean): number {
    this.fields = 0;
    this.flags = 0;
    let flags = 0;
    let fieldStart = p;
    let quoted = 0;
    let i = p;
    for (;;) {
      // most bytes are digits, letters, '-' or '.', all above ',': skip them in a tight loop
      while (i < end && buf[i]! > COMMA) i++;
      if (i >= end) {
        if (!last) return -1;
        this.push(fieldStart, end, quoted);
        this.contentEnd = end;
        this.eol = EOL_NONE;
        this.flags = flags;
        return end;
      }
      const c = buf[i]!;
      if (c === COMMA) {
        this.push(fieldStart, i, quoted);
        quoted = 0;
        fieldStart = ++i;
        continue;
      }
      if (c === LF) {
        let ce = i;
        this.eol = EOL_LF;
        if (ce > p && buf[ce - 1] === CR) {
          ce--;
          this.eol = EOL_CRLF;
          if (ce < fieldStart) fieldStart = ce; // "a,\r\n": the last field is empty, not "\r"
        }
        this.push(fieldStart, ce, quoted);
        this.contentEnd = ce;
        this.flags = flags;
        return i + 1;
      }
      if (c === QUOTE) {
        if (i !== fieldStart) {
          flags |= F_BAD_QUOTE; // stray quote inside an unquoted field: literal
          i++;
          continue;
        }
        // A quoted field: jump from quote to quote (native search) until one that is not doubled.
        let j = i + 1;
        for (;;) {
          const q = buf.indexOf(QUOTE, j);
          if (q === -1 || q >= end) {
            if (!last) return -1;
            this.push(fieldStart, end, 1);
            this.contentEnd = end;
            this.eol = EOL_NONE;
            this.flags = flags | F_QUOTED | F_UNTERMINATED;
            return end;
          }
          if (q + 1 < end) {
            if (buf[q + 1] === QUOTE) {
              j = q + 2;
              continue;
            }
          } else if (!last) {
            return -1; // cannot tell a closing quote from the first half of a doubled one yet
          }
          i = q + 1;
          break;
        }
        flags |= F_QUOTED;
        quoted = 1;
        if (i < end) {
          const d = buf[i]!;
          if (d !== COMMA && d !== LF && !(d === CR && (i + 1 >= end || buf[i + 1] === LF))) flags |= F_BAD_QUOTE;
        }
        continue;
      }
      if (c < 32 && c !== 9 && !(c === CR && i + 1 < end && buf[i + 1] === LF)) flags |= F_CTRL;
      i++;
    }
  }
}

export const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
