import { resolveSourceDb } from '../../sources/database';
import type { BatchRunner, Checkpoint } from '../batch';
import { advance, closeCopy, commitBatch, openCopy, translateCopyError, write } from '../batch';
import { CsvRowProcessor, csvLayout } from '../csv/rows';
import { withSource } from './source';

// One chunk of a database load: the key range [byteStart, byteEnd) of the plan, read in batches of `batchKeys` keys.
// A batch is one transaction here (COPY into the landing table, its rejected rows, the checkpoint = the next key) and
// one query there (PostgreSQL: COPY TO STDOUT; MariaDB: a streaming SELECT), whose CSV blocks go through the CSV fast
// path as they arrive: memory holds a block and the batch's rejected rows, never the batch.

export const loadDbBatches: BatchRunner = async (client, _pool, spec, plan, chunk, token, from, opts, budget, beat) => {
  const read = plan.dbRead;
  if (!read) throw new Error(`load of ${plan.source} in run ${plan.runId} is not a database read`);
  const hi = plan.chunks[chunk]!.byteEnd;
  const processor = new CsvRowProcessor(csvLayout(spec, plan.header, plan.file), plan.mode === 'rowkeys' ? chunk : undefined);
  processor.rowsRead = from.rowsRead;
  processor.rowsLoaded = from.rowsLoaded;
  processor.rowsRejected = from.rowsRejected;
  let committed: Checkpoint = from;
  let batches = 0;

  await withSource(resolveSourceDb(read.locator), async (source) => {
    while (committed.byteDone < hi) {
      const lo = committed.byteDone;
      const next = Math.min(hi, lo + read.batchKeys);
      await client.query('BEGIN');
      processor.startCopy();
      const copy = openCopy(client, plan);
      try {
        let carry: Buffer = Buffer.alloc(0);
        const feed = async (buf: Buffer, last: boolean) => {
          const consumed = processor.process(buf, 0, buf.length, last, 0);
          for (const piece of processor.pieces) await write(copy.stream, piece);
          processor.pieces = [];
          processor.pieceBytes = 0;
          carry = consumed < buf.length ? Buffer.from(buf.subarray(consumed)) : Buffer.alloc(0);
        };
        await source.readCsv(read, lo, next, async (block) => {
          opts.signal?.throwIfAborted();
          if (copy.error) throw copy.error;
          await feed(carry.length > 0 ? Buffer.concat([carry, block]) : block, false);
        });
        if (carry.length > 0) await feed(carry, true);
        await closeCopy(copy);
      } catch (err) {
        copy.stream.destroy(err as Error);
        await client.query('ROLLBACK').catch(() => undefined);
        throw translateCopyError(err, plan);
      }
      const to: Checkpoint = { byteDone: next, rowsRead: processor.rowsRead, rowsLoaded: processor.rowsLoaded, rowsRejected: processor.rowsRejected };
      const eof = next >= hi;
      const overBudget = await commitBatch(client, plan, chunk, token, committed, to, processor.rejects, budget, eof);
      committed = to;
      batches++;
      beat(committed, batches);
      if (overBudget) return;
      if (opts.failAfterBatches !== undefined && batches >= opts.failAfterBatches && !eof) {
        throw new Error(`fault injected after ${batches} batch(es) of chunk ${chunk}`);
      }
    }
  });
  if (batches === 0 && committed.byteDone >= hi) {
    // an empty range (no rows to read) or a checkpoint already at its end: mark the chunk done
    await client.query('BEGIN');
    await advance(client, plan, chunk, token, committed, committed, 'done');
    await client.query('COMMIT');
  }
  return { batches };
};
