import { resolveSourceDb } from '../../sources/database';
import type { BatchRunner } from '../batch';
import { runBatches, write } from '../batch';
import { csvLayout } from '../csv/layout';
import { CsvRowProcessor } from '../csv/rows';
import { withSource } from './source';

// One chunk of a database load: the key range [byteStart, byteEnd) of the plan, read in batches of `batchKeys` keys.
// A batch is one transaction here (COPY into the landing table, its rejected rows, the checkpoint = the next key) and
// one query there (PostgreSQL: COPY TO STDOUT; MariaDB: a streaming SELECT), whose CSV blocks go through the CSV fast
// path as they arrive: memory holds a block and the batch's rejected rows, never the batch.

export const loadDbBatches: BatchRunner = async (client, pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const read = plan.dbRead;
  if (!read) throw new Error(`load of ${plan.source} in run ${plan.runId} is not a database read`);
  const hi = plan.chunks[chunk]!.byteEnd;
  const processor = new CsvRowProcessor(csvLayout(spec, plan.header, plan.file), plan.mode === 'rowkeys' ? chunk : undefined);
  processor.rowsRead = from.rowsRead;
  processor.rowsLoaded = from.rowsLoaded;
  processor.rowsRejected = from.rowsRejected;
  let next = from.byteDone;

  return withSource(resolveSourceDb(read.locator), (source) =>
    runBatches(
      {
        done: (committed) => committed.byteDone >= hi,
        fill: async (copy, committed) => {
          const lo = committed.byteDone;
          next = Math.min(hi, lo + read.batchKeys);
          processor.startCopy();
          let carry: Buffer = Buffer.alloc(0);
          const feed = async (buf: Buffer, last: boolean) => {
            const consumed = processor.process(buf, 0, buf.length, last, 0);
            for (const piece of processor.takePieces()) await write(copy.stream, piece);
            carry = consumed < buf.length ? Buffer.from(buf.subarray(consumed)) : Buffer.alloc(0);
          };
          await source.readCsv(read, lo, next, async (block) => {
            opts.signal?.throwIfAborted();
            if (copy.error) throw copy.error;
            await feed(carry.length > 0 ? Buffer.concat([carry, block]) : block, false);
          });
          if (carry.length > 0) await feed(carry, true);
        },
        end: () => ({
          to: { byteDone: next, rowsRead: processor.rowsRead, rowsLoaded: processor.rowsLoaded, rowsRejected: processor.rowsRejected },
          rejects: processor.rejects,
          eof: next >= hi,
        }),
      },
      client, pool, spec, plan, chunk, token, from, opts, budget, beat,
    ),
  );
};
