import { EOL_LF, EOL_NONE } from './scan';

export const EOL_BYTES = [Buffer.alloc(0), Buffer.from('\n'), Buffer.from('\r\n')];
const OUT_BYTES = 256 * 1024;

/**
 * The COPY input (FORMAT csv) of one batch, as CsvRowProcessor writes it: slices of the input buffer passed through
 * as they are, and rewritten lines written into an output buffer; plus which chunk row each stream line came from.
 */
export class CopyOutput {
  /** Line end of the current COPY stream (EOL_NONE until the first line is written). */
  eol = EOL_NONE;
  /** Rewritten lines are written here; out[outStart, outPos) is not emitted yet. Emitted bytes are never reused. */
  private out: Buffer = Buffer.alloc(0);
  private outStart = 0;
  private outPos = 0;
  /** Output of the current batch, in order. */
  pieces: Buffer[] = [];
  pieceBytes = 0;
  /**
   * Where the current COPY stream's lines come from, to name the file row of a value PostgreSQL refuses: pairs
   * (0-based stream line, chunk row) at the start of each run of consecutive records (one line each on the fast path);
   * a record over several lines has a pair of its own, its row stored as -row - 1 (every line of it is that row).
   */
  lineMap: number[] = [];
  /** Lines written to the current COPY stream (a re-encoded quoted value may span several). */
  streamLines = 0;

  /** A new COPY statement begins: forget the line-end style, drop the output of the previous batch. */
  startCopy(): void {
    this.eol = EOL_NONE;
    this.pieces = [];
    this.pieceBytes = 0;
    this.lineMap = [];
    this.streamLines = 0;
    this.outStart = this.outPos;
  }

  /** The chunk row of line `line` (1-based, as PostgreSQL counts) of the current COPY stream. */
  rowOfStreamLine(line: number): number | undefined {
    const map = this.lineMap;
    for (let i = map.length - 2; i >= 0; i -= 2) {
      if (map[i]! <= line - 1) return map[i + 1]! < 0 ? -map[i + 1]! - 1 : map[i + 1]! + (line - 1 - map[i]!);
    }
    return undefined;
  }

  /** Records that the next `lines` lines of the COPY stream are `row` (a fast-path line is one line). */
  mapLine(row: number, lines = 1): void {
    const map = this.lineMap;
    const n = map.length;
    // consecutive records on consecutive lines need no new entry
    if (lines > 1) map.push(this.streamLines, -row - 1);
    else if (!(n >= 2 && map[n - 1]! >= 0 && map[n - 1]! + (this.streamLines - map[n - 2]!) === row)) map.push(this.streamLines, row);
    this.streamLines += lines;
  }

  /** The pieces written since the last call, handed over. */
  takePieces(): Buffer[] {
    const pieces = this.pieces;
    this.pieces = [];
    this.pieceBytes = 0;
    return pieces;
  }

  emit(piece: Buffer): void {
    this.flushOut();
    this.pieces.push(piece);
    this.pieceBytes += piece.length;
  }

  flushOut(): void {
    if (this.outPos === this.outStart) return;
    const piece = this.out.subarray(this.outStart, this.outPos);
    this.outStart = this.outPos;
    this.pieces.push(piece);
    this.pieceBytes += piece.length;
  }

  /** Room for `n` more bytes in the output buffer (a fresh one when full: emitted bytes may still be in flight). */
  private room(n: number): Buffer {
    if (this.outPos + n > this.out.length) {
      this.flushOut();
      this.out = Buffer.allocUnsafe(Math.max(OUT_BYTES, n));
      this.outStart = this.outPos = 0;
    }
    return this.out;
  }

  put(src: Buffer, s: number, e: number): void {
    const out = this.room(e - s);
    if (e - s > 48) {
      out.set(src.subarray(s, e), this.outPos);
      this.outPos += e - s;
      return;
    }
    let i = this.outPos;
    for (let j = s; j < e; j++) out[i++] = src[j]!;
    this.outPos = i;
  }

  /** y * 10000 + m * 100 + d as YYYY-MM-DD. */
  putDate(v: number): void {
    const out = this.room(10);
    let i = this.outPos;
    const y = Math.floor(v / 10000);
    const m = Math.floor(v / 100) % 100;
    const d = v % 100;
    out[i++] = 48 + Math.floor(y / 1000);
    out[i++] = 48 + (Math.floor(y / 100) % 10);
    out[i++] = 48 + (Math.floor(y / 10) % 10);
    out[i++] = 48 + (y % 10);
    out[i++] = 45;
    out[i++] = 48 + Math.floor(m / 10);
    out[i++] = 48 + (m % 10);
    out[i++] = 45;
    out[i++] = 48 + Math.floor(d / 10);
    out[i++] = 48 + (d % 10);
    this.outPos = i;
  }

  putText(text: string): void {
    const out = this.room(text.length * 3); // may start a new buffer (and reset outPos): before reading outPos
    this.outPos += out.write(text, this.outPos, 'utf8');
  }

  /** The stream's line end (set by the first line written). */
  lineEnd(eol: number): number {
    if (this.eol === EOL_NONE) this.eol = eol === EOL_NONE ? EOL_LF : eol;
    return this.eol;
  }
}
