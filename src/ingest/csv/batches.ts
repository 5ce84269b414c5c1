import { open } from 'node:fs/promises';
import { InputError } from '../../errors';
import type { BatchRunner, BatchSource } from '../batch';
import { refusedLine, refusedReason, runBatches, write } from '../batch';
import { MAX_RECORD_BYTES } from './plan';
import { csvLayout } from './layout';
import { CsvRowProcessor } from './rows';
import { VerifiedReader } from '../verify';

/**
 * Reads a byte range of the file into fresh buffers (pieces handed to COPY point into them), every byte checked
 * against the plan's block hashes before it is handed out (VerifiedReader).
 */
class RangeReader {
  private position: number;
  constructor(
    private readonly file: VerifiedReader,
    start: number,
    private readonly end: number,
    private readonly blockBytes: number,
  ) {
    this.position = start;
  }
  get done(): boolean {
    return this.position >= this.end;
  }
  /** Reads on from `position` (a batch read again from its start). */
  seek(position: number): void {
    this.position = position;
  }
  /** The next bytes, after `carry` (the unprocessed tail of the previous block). */
  async next(carry: Buffer): Promise<{ buf: Buffer; fileOffset: number; last: boolean }> {
    const want = Math.min(this.blockBytes, this.end - this.position);
    const buf = Buffer.allocUnsafe(carry.length + want);
    carry.copy(buf, 0);
    await this.file.read(buf, carry.length, want, this.position);
    const fileOffset = this.position - carry.length;
    this.position += want;
    return { buf, fileOffset, last: this.position >= this.end };
  }
}

/** CSV: a byte range of the file, record by record through CsvRowProcessor, in batches of about `batchBytes`. */
export const loadCsvBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const batchBytes = opts.batchBytes ?? 16 * 1024 * 1024;
  const batchMs = opts.batchMs ?? 2000;
  const byteEnd = plan.chunks[chunk]!.byteEnd;
  const processor = new CsvRowProcessor(csvLayout(spec, plan.header, plan.file), plan.mode === 'rowkeys' ? chunk : undefined);
  processor.rowsRead = from.rowsRead;
  processor.rowsLoaded = from.rowsLoaded;
  processor.rowsRejected = from.rowsRejected;
  processor.linesDone = from.linesDone ?? 0;

  const fh = await open(plan.path, 'r');
  try {
    const reader = new RangeReader(new VerifiedReader(fh, plan), from.byteDone, byteEnd, opts.readBytes ?? 4 * 1024 * 1024);
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    let fileOffset = from.byteDone; // file offset of buf[0]
    let last = reader.done;
    let eof = reader.done;
    // the batch being sent: where it started, for reading it again when PostgreSQL refused one of its values
    let batchFrom = from;
    let batchMaxRejects = 0;
    const fill = async (copy: Parameters<BatchSource['fill']>[0], maxRejects: number): Promise<void> => {
      const batchStarted = Date.now();
      processor.startCopy();
      let batchBytesDone = 0;
      for (;;) {
        opts.signal?.throwIfAborted();
        if (copy.error) throw copy.error;
        if (bufStart < buf.length) {
          const consumed = processor.process(buf, bufStart, buf.length, last, fileOffset, maxRejects);
          for (const piece of processor.takePieces()) await write(copy.stream, piece);
          batchBytesDone += consumed - bufStart;
          bufStart = consumed;
        }
        if (last && bufStart >= buf.length) {
          eof = true;
          return;
        }
        if (processor.rejects.length >= maxRejects) return;
        // a batch ends on its size or time only once it has taken a record (else a time budget spent before the
        // first read, e.g. batchMs 0, would commit empty batches forever)
        if (batchBytesDone > 0 && (batchBytesDone >= batchBytes || Date.now() - batchStarted >= batchMs)) return;
        // the buffer is used up, or holds only the start of a record: read on behind it
        const carry = buf.subarray(bufStart);
        if (carry.length > MAX_RECORD_BYTES) {
          throw new InputError(
            'SourceFormatError',
            `${plan.file}: the record after row ${processor.rowsRead} of chunk ${chunk} (byte offset ${fileOffset + bufStart}) is longer than ` +
              `${MAX_RECORD_BYTES} bytes: an unclosed quote?`,
            { file: plan.file },
          );
        }
        const next = await reader.next(carry);
        buf = next.buf;
        bufStart = 0;
        fileOffset = next.fileOffset;
        last = next.last;
      }
    };
    return await runBatches(
      {
        done: () => eof,
        fill: async (copy, committed, maxRejects) => {
          batchFrom = committed;
          batchMaxRejects = maxRejects;
          await fill(copy, maxRejects);
        },
        // PostgreSQL refused a value validation let through: its row is rejected with PostgreSQL's reason, and the
        // batch is read again from its start without it (nothing of the batch is kept in memory for this)
        refused: (err) => {
          const line = refusedLine(err);
          const row = line === undefined ? undefined : processor.rowOfStreamLine(line);
          if (row === undefined || processor.refusedRows?.has(row)) return false;
          (processor.refusedRows ??= new Map()).set(row, refusedReason(err, plan));
          return true;
        },
        resend: async (copy) => {
          processor.rowsRead = batchFrom.rowsRead;
          processor.rowsLoaded = batchFrom.rowsLoaded;
          processor.rowsRejected = batchFrom.rowsRejected;
          processor.linesDone = batchFrom.linesDone ?? 0;
          reader.seek(batchFrom.byteDone);
          buf = Buffer.alloc(0);
          bufStart = 0;
          fileOffset = batchFrom.byteDone;
          last = reader.done;
          eof = reader.done;
          await fill(copy, batchMaxRejects);
        },
        end: () => ({
          to: {
            byteDone: eof ? byteEnd : fileOffset + bufStart,
            rowsRead: processor.rowsRead,
            rowsLoaded: processor.rowsLoaded,
            rowsRejected: processor.rowsRejected,
            linesDone: processor.linesDone,
          },
          rejects: processor.rejects,
          eof,
        }),
        where: (err) => {
          const line = refusedLine(err);
          const row = line === undefined ? undefined : processor.rowOfStreamLine(line);
          return row === undefined ? undefined : chunk === 0 ? `row ${row}` : `row ${row} of chunk ${chunk} (the chunk starting at byte ${plan.chunks[chunk]!.byteStart})`;
        },
      },
      client, pool, spec, plan, chunk, token, from, opts, budget, beat,
    );
  } finally {
    await fh.close();
  }
};
