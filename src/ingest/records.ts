import { open } from 'node:fs/promises';
import type { RawRecord } from '../sources/types';
import { readerFor } from '../sources/readers';
import { validateRecord } from '../sources/validate';
import type { BatchRunner, RejectedRow } from './batch';
import { refusedLine, refusedReason, rejectFromErrors, runBatches, write } from './batch';
import { csvField } from './encode';
import { assertFileAsPlanned } from './verify';
import { InputError } from '../errors';

/** Excel, JSON, Parquet: the reader's records, validated one by one, in batches; a retry skips committed records. */
export const loadRecordBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const batchRows = 50_000;
  const batchMs = opts.batchMs ?? 2000;
  const rowKeys = plan.mode === 'rowkeys';
  const kinds = plan.copyColumns.map((c) => spec.columns[c]!.kind);
  const dateColumns = plan.header.filter((_h, i) => kinds[i] === 'date' || kinds[i] === 'timestamp');
  // every byte the reader parses comes from a block whose sha256 is the plan's (src/ingest/verify.ts)
  const verify = plan.blockSha256 ? plan : undefined;
  const stream = await readerFor(spec.format)(plan.path, { sheet: spec.sheet, displayName: plan.file, dateColumns, verify });
  // the header planned (read before the file was hashed) is the one in the bytes hashed
  if (verify && JSON.stringify(stream.header) !== JSON.stringify(plan.header)) {
    await stream.records[Symbol.asyncIterator]().return?.();
    throw new InputError('SourceFormatError', `${plan.file}: changed while being planned (its header as planned differs from the bytes hashed); run the load again`, { file: plan.file });
  }
  const it = stream.records[Symbol.asyncIterator]();
  let skipped = 0;
  let eof = false;
  // the current batch
  let rowsRead = 0;
  let rowsLoaded = 0;
  let rowsRejected = 0;
  let rejects: RejectedRow[] = [];
  // The batch's COPY lines and their records are kept: when PostgreSQL refuses a value the validation let through,
  // that record is rejected (with its file row) and the batch is sent again without it.
  let lines: string[] = [];
  let lineRecords: RawRecord[] = [];
  try {
    return await runBatches(
      {
        done: () => eof,
        fill: async (copy, committed, maxRejects) => {
          const batchStarted = Date.now();
          ({ rowsRead, rowsLoaded, rowsRejected } = committed);
          rejects = [];
          lines = [];
          lineRecords = [];
          let text = '';
          let n = 0;
          for (;;) {
            opts.signal?.throwIfAborted();
            if (copy.error) throw copy.error;
            const next = await it.next();
            if (next.done) {
              if (!verify) {
                // a plan made before every file had block hashes: the file hashed whole again, before this last batch commits
                const fh = await open(plan.path, 'r');
                try {
                  await assertFileAsPlanned(fh, plan);
                } finally {
                  await fh.close();
                }
              }
              eof = true;
              break;
            }
            if (skipped < from.rowsRead) {
              skipped++; // committed by an earlier attempt
              continue;
            }
            const record: RawRecord = next.value;
            rowsRead++;
            const result = validateRecord(spec, record);
            if (result.ok) {
              let line = '';
              for (let k = 0; k < plan.copyColumns.length; k++) {
                if (k > 0) line += ',';
                line += csvField(result.row[plan.copyColumns[k]!], kinds[k]);
              }
              if (rowKeys) line += `,${chunk},${record.row},${record.line ?? ''}`;
              line += '\n';
              text += line;
              lines.push(line);
              lineRecords.push(record);
              rowsLoaded++;
              if (text.length > 256 * 1024) {
                await write(copy.stream, Buffer.from(text, 'utf8'));
                text = '';
              }
            } else {
              rejects.push(rejectFromErrors(record.row, record.values, result.errors, record.line));
              rowsRejected++;
            }
            n++;
            if (rejects.length >= maxRejects || n >= batchRows || Date.now() - batchStarted >= batchMs) break;
          }
          if (text) await write(copy.stream, Buffer.from(text, 'utf8'));
        },
        end: (committed) => ({
          to: { byteDone: eof ? plan.chunks[chunk]!.byteEnd : committed.byteDone, rowsRead, rowsLoaded, rowsRejected },
          rejects,
          eof,
        }),
        // PostgreSQL refused a value: reject its record; the rest of the batch is sent again (until it goes through)
        refused: (err) => {
          const line = refusedLine(err);
          const record = line === undefined ? undefined : lineRecords[line - 1];
          if (line === undefined || !record) return false;
          rejects.push({ row: record.row, line: record.line, raw: record.values, ...refusedReason(err, plan) });
          lines.splice(line - 1, 1);
          lineRecords.splice(line - 1, 1);
          rowsLoaded--;
          rowsRejected++;
          return true;
        },
        resend: async (copy) => {
          for (let i = 0; i < lines.length; i += 4096) await write(copy.stream, Buffer.from(lines.slice(i, i + 4096).join(''), 'utf8'));
        },
      },
      client, pool, spec, plan, chunk, token, from, opts, budget, beat,
    );
  } finally {
    await it.return?.();
  }
};
