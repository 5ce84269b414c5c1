import type { RawRecord } from '../sources/types';
import { readerFor } from '../sources/readers';
import { validateRecord } from '../sources/validate';
import type { BatchRunner, Checkpoint, RejectedRow } from './batch';
import { MAX_REJECTS_PER_BATCH, closeCopy, commitBatch, openCopy, refusedLine, rejectFromErrors, rejectedSoFar, translateCopyError, write } from './batch';
import { csvField } from './encode';

/** Excel, JSON, Parquet: the reader's records, validated one by one, in batches; a retry skips committed records. */
export const loadRecordBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const batchRows = 50_000;
  const batchMs = opts.batchMs ?? 2000;
  const rowKeys = plan.mode === 'rowkeys';
  const kinds = plan.copyColumns.map((c) => spec.columns[c]!.kind);
  const dateColumns = plan.header.filter((_h, i) => kinds[i] === 'date' || kinds[i] === 'timestamp');
  const stream = await readerFor(spec.format)(plan.path, { sheet: spec.sheet, displayName: plan.file, dateColumns });
  const it = stream.records[Symbol.asyncIterator]();
  let committed = from;
  let batches = 0;
  let skipped = 0;
  try {
    let eof = false;
    while (!eof) {
      const batchFrom = committed;
      const batchStarted = Date.now();
      const room = budget.kind === 'rows' ? Math.max(1, budget.rows + 1 - (await rejectedSoFar(pool, plan))) : MAX_REJECTS_PER_BATCH;
      const maxRejects = Math.min(MAX_REJECTS_PER_BATCH, room);
      let rowsRead = committed.rowsRead;
      let rowsLoaded = committed.rowsLoaded;
      let rowsRejected = committed.rowsRejected;
      const rejects: RejectedRow[] = [];
      // The batch's COPY lines and their records are kept: when PostgreSQL refuses a value the validation let through,
      // that record is rejected (with its file row) and the batch is sent again without it.
      const lines: string[] = [];
      const lineRecords: RawRecord[] = [];
      await client.query('BEGIN');
      let copy = openCopy(client, plan);
      let refused: unknown;
      try {
        let text = '';
        let n = 0;
        for (;;) {
          opts.signal?.throwIfAborted();
          if (copy.error) throw copy.error;
          const next = await it.next();
          if (next.done) {
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
            if (rowKeys) line += `,${chunk},${record.row}`;
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
        await closeCopy(copy);
      } catch (err) {
        copy.stream.destroy(err as Error);
        await client.query('ROLLBACK').catch(() => undefined);
        if (refusedLine(err) === undefined) throw translateCopyError(err, plan);
        refused = err;
      }
      // PostgreSQL refused a value: reject its record, send the rest of the batch again (until it goes through)
      while (refused !== undefined) {
        const line = refusedLine(refused)!;
        const record = lineRecords[line - 1];
        if (!record) throw translateCopyError(refused, plan);
        const pgErr = refused as { message?: string; where?: string };
        const column = /column (\S+?):/.exec(pgErr.where ?? '')?.[1];
        const header = column !== undefined ? plan.header[plan.copyColumns.indexOf(column)] : undefined;
        rejects.push({
          row: record.row,
          line: record.line,
          raw: record.values,
          errors: [`${header !== undefined ? `column ${header}: ` : ''}PostgreSQL refused the value: ${pgErr.message ?? String(refused)}`],
          kinds: [`${header !== undefined ? `${header}: ` : ''}refused by PostgreSQL`],
        });
        lines.splice(line - 1, 1);
        lineRecords.splice(line - 1, 1);
        rowsLoaded--;
        rowsRejected++;
        refused = undefined;
        await client.query('BEGIN');
        copy = openCopy(client, plan);
        try {
          for (let i = 0; i < lines.length; i += 4096) await write(copy.stream, Buffer.from(lines.slice(i, i + 4096).join(''), 'utf8'));
          await closeCopy(copy);
        } catch (err) {
          copy.stream.destroy(err as Error);
          await client.query('ROLLBACK').catch(() => undefined);
          if (refusedLine(err) === undefined) throw translateCopyError(err, plan);
          refused = err;
        }
      }
      const to: Checkpoint = { byteDone: eof ? plan.chunks[chunk]!.byteEnd : committed.byteDone, rowsRead, rowsLoaded, rowsRejected };
      const overBudget = await commitBatch(client, plan, chunk, token, batchFrom, to, rejects, budget, eof);
      committed = to;
      batches++;
      beat(committed, batches);
      if (overBudget) break;
      if (opts.failAfterBatches !== undefined && batches >= opts.failAfterBatches && !eof) {
        throw new Error(`fault injected after ${batches} batch(es) of chunk ${chunk}`);
      }
    }
  } finally {
    await it.return?.();
  }
  return { batches };
};
