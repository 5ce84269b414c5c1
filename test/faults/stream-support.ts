/**
 * Shared rig of the stream fault tests (stream-worker-kill, stream-postgres-restart, stream-temporal-restart): the
 * fault rig (real Temporal dev server, workers as OS processes) plus a shop PostgreSQL with wal_level=logical. A
 * stream runs while the shop keeps changing; the fault strikes in the middle; once the shop is quiet and the slot has
 * confirmed everything, staging, the fact and the marts must equal a full batch run over the same source rows:
 * nothing lost, nothing counted twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateDataset } from '../../dataset/generate';
import { seedShopDatabase } from '../../dataset/to-db';
import { startPipeline } from '../../src/client';
import type { PipelineSummary } from '../../src/contracts';
import { queryStream, startStream, stopStream } from '../../src/stream/client';
import { startLogicalPostgres, waitForStreamCatchUp } from '../helpers/logical-postgres';
import type { LogicalPostgres } from '../helpers/logical-postgres';
import type { ManagedProcess, WorkerEnv } from '../helpers/processes';
import { assertSameTables, changeShop, streamedTables } from '../helpers/stream';
import { DATASET, startRig } from './support';
import type { FaultRig } from './support';

export const SLOT = 'gudang_django_apparel';

export interface StreamRig {
  rig: FaultRig;
  shop: LogicalPostgres;
  dir: string;
  worker: ManagedProcess;
  close(): Promise<void>;
}

export async function startStreamRig(opts: { persistent?: boolean } = {}): Promise<StreamRig> {
  const [rig, shop] = await Promise.all([startRig({ persistent: opts.persistent }), startLogicalPostgres()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gudang-stream-fault-'));
  await generateDataset({ orderLines: 3_000, out: dir, seed: 37, months: 6 });
  await seedShopDatabase(shop.url, dir);
  // the worker processes' environment: the only place the shop's password is
  (rig.workerEnv as WorkerEnv & { GUDANG_SOURCE_DB_URL?: string }).GUDANG_SOURCE_DB_URL = shop.url;
  const worker = await rig.startWorker('worker-1');
  return {
    rig,
    shop,
    dir,
    worker,
    async close() {
      await stopStream(rig.client, DATASET, { dropSlot: true }).catch(() => undefined);
      await rig.close();
      await shop.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface FaultOutcome {
  transactions: number;
  /** From the end of the fault (worker dead, server back up) to the first batch committed after it (ms). */
  recoveredAfterMs: number | null;
  /** From the end of the changes to the slot confirming them all (ms). */
  caughtUpAfterMs: number;
  batches: number;
}

/**
 * Starts the stream, changes the shop for `changeMs` with the fault at `faultAtMs`, waits for the stream to catch
 * up, checks the tables against a batch run, and returns what it saw.
 */
export async function streamThroughFault(s: StreamRig, fault: () => Promise<void>, opts: { faultAtMs?: number; changeMs?: number } = {}): Promise<FaultOutcome> {
  const { rig, shop } = s;
  await startStream(rig.client, rig.config, { dataset: DATASET, sourceDir: s.dir, sourceDb: shop.url, stretchMs: 5_000, stretchesPerRun: 3 });
  const deadline = Date.now() + 90_000;
  while ((await queryStream(rig.client, DATASET).catch(() => undefined))?.phase !== 'streaming') {
    assert.ok(Date.now() < deadline, 'the stream did not reach its streaming phase');
    await new Promise((r) => setTimeout(r, 300));
  }
  let stop = false;
  const changeMs = opts.changeMs ?? 16_000;
  // the shop may be down during the fault: a change made then fails, and the next one is tried
  const guarded = changeShop(shop.pool, { rounds: 100_000, seed: 5, pauseMs: 30, stopAt: () => stop, tolerate: true });
  await new Promise((r) => setTimeout(r, opts.faultAtMs ?? 5_000));
  await fault();
  const faultAt = new Date(); // the fault is over (the worker dead, the server back): recovery counts from here
  const left = changeMs - (opts.faultAtMs ?? 5_000);
  await new Promise((r) => setTimeout(r, Math.max(2_000, left)));
  stop = true;
  const made = await guarded;
  const transactions = made;
  const quietAt = Date.now();
  await waitForStreamCatchUp(shop.pool, SLOT, 90_000);
  const caughtUpAfterMs = Date.now() - quietAt;
  const pool = rig.db.pool;
  const after = await pool.query<{ first: Date | null; n: number }>(
    `SELECT min(committed_at) AS first, (SELECT count(*)::int FROM ops.stream_batches WHERE transactions > 0) AS n FROM ops.stream_batches WHERE committed_at > $1 AND transactions > 0`,
    [faultAt],
  );
  const streamed = await streamedTables(pool);
  await stopStream(rig.client, DATASET);
  const run = await startPipeline(rig.client, rig.config, { dataset: DATASET, sourceDir: s.dir, sourceDb: shop.url, runKey: 'reference', rejectBudget: '10' });
  (await run.handle.result()) as PipelineSummary;
  assertSameTables(streamed, await streamedTables(pool), 'stream through the fault vs batch run');
  return {
    transactions,
    recoveredAfterMs: after.rows[0]?.first ? after.rows[0].first.getTime() - faultAt.getTime() : null,
    caughtUpAfterMs,
    batches: after.rows[0]?.n ?? 0,
  };
}
