import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { generateDataset } from '../../dataset/generate';
import { seedShopDatabase } from '../../dataset/to-db';
import { startPipeline } from '../../src/client';
import type { PipelineSummary, StreamResult } from '../../src/contracts';
import { queryStream, startStream, stopStream } from '../../src/stream/client';
import { streamReport } from '../../src/stream/report';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';
import { startLogicalPostgres, waitForStreamCatchUp } from '../helpers/logical-postgres';
import type { LogicalPostgres } from '../helpers/logical-postgres';
import { assertSameTables, changeShop, streamedTables } from '../helpers/stream';

// The real-time stream (issue 13): a shop PostgreSQL of the test's own with wal_level=logical, a real Temporal dev
// server and an in-process worker. The stream starts (slot, then its initial full run from the shop), inserts,
// updates and deletes of orders and lines are made in the shop, and once the slot has confirmed them the staging
// tables, the fact and the marts must equal a batch run over the same source rows. The shop's password lives only
// in the worker's environment: it must appear in no workflow history and no ops table.

const LINES = 3_000;
const DATASET = 'django-apparel';
const SLOT = 'gudang_django_apparel';

let h: PipelineHarness;
let worker: Worker;
let workerDone: Promise<void>;
let dir: string;
let shop: LogicalPostgres;

before(async () => {
  [h, shop] = await Promise.all([startHarness(), startLogicalPostgres()]);
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-stream-'));
  await generateDataset({ orderLines: LINES, out: dir, seed: 31, months: 6 });
  await seedShopDatabase(shop.url, dir);
  process.env.GUDANG_SOURCE_DB_URL = shop.url; // the worker's environment: where the password lives
  worker = await h.newWorker();
  workerDone = worker.run();
});

after(async () => {
  await stopStream(h.client, DATASET, { dropSlot: true }).catch(() => undefined);
  delete process.env.GUDANG_SOURCE_DB_URL;
  worker?.shutdown();
  await workerDone;
  await h?.close();
  await shop?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function batchRun(runKey: string): Promise<PipelineSummary> {
  const started = await startPipeline(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, runKey, rejectBudget: '10' });
  return (await started.handle.result()) as PipelineSummary;
}

void describe('real-time stream', () => {
  void test('inserts, updates and deletes in the shop reach staging, the fact and the marts as a batch run would load them', async () => {
    const handle = await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000, stretchesPerRun: 2 });
    try {
      await firstStream(handle);
    } catch (err) {
      await stopStream(h.client, DATASET).catch(() => undefined);
      throw err;
    }
  });

  async function firstStream(handle: Awaited<ReturnType<typeof startStream>>): Promise<void> {
    // the initial full run from the shop, then streaming
    const deadline = Date.now() + 90_000;
    while ((await queryStream(h.client, DATASET)).phase !== 'streaming') {
      assert.ok(Date.now() < deadline, 'the stream did not reach its streaming phase');
      await new Promise((r) => setTimeout(r, 300));
    }
    const transactions = await changeShop(shop.pool, { rounds: 30, seed: 1, invalid: true });
    await waitForStreamCatchUp(shop.pool, SLOT);

    const report = (await streamReport(h.db.pool, DATASET, { sourceDbUrl: shop.url }))!;
    assert.equal(report.status, 'running');
    // (a transaction that changed no row, e.g. an update of an order with no lines left, never reaches the slot)
    assert.ok(report.recent.transactions > transactions * 0.8 && report.recent.transactions <= transactions, `the stream applied ${report.recent.transactions} of ${transactions} source transactions`);
    assert.equal(report.recent.rejected, 1, 'the line with quantity 0 was not staged');
    assert.ok(report.slotState && report.slotState.retainedWalBytes !== null, 'the slot state was read from the source');
    const streamed = await streamedTables(h.db.pool);

    // the workflow continued as new (2 stretches per run) and shows its lag
    await new Promise((r) => setTimeout(r, 9_000));
    const desc = await handle.describe();
    assert.notEqual(desc.runId, handle.firstExecutionRunId, 'the stream continued as new');
    assert.equal(typeof (await desc.memo)?.lagMs, 'number', 'the memo carries the lag');

    const result: StreamResult = await stopStream(h.client, DATASET);
    const resumed = await h.client.workflow.getHandle(`gudang-${DATASET}-stream-initial-load`).describe();
    assert.equal(resumed.status.name, 'COMPLETED', 'the initial full run from the shop completed');
    assert.equal(result.phase, 'stopped');
    assert.equal(result.slotDropped, false);
    const state = await shop.pool.query(`SELECT active FROM pg_replication_slots WHERE slot_name = $1`, [SLOT]);
    assert.equal(state.rows[0]?.active, false, 'the slot is kept, inactive');

    // the reference: a full batch run over the same source rows
    await batchRun('after-stream');
    assertSameTables(streamed, await streamedTables(h.db.pool), 'stream vs batch run');

    // no password anywhere
    const histories: string[] = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId STARTS_WITH "gudang-${DATASET}-stream"` })) {
      histories.push(JSON.stringify(await h.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()));
    }
    assert.ok(histories.length >= 3, `stream histories found: ${histories.length}`);
    for (const text of histories) assert.ok(!text.includes(shop.password), 'the shop password is in a workflow history');
    const ops = await h.db.pool.query(`SELECT row_to_json(s)::text AS r FROM ops.streams s UNION ALL SELECT row_to_json(b)::text FROM ops.stream_batches b`);
    assert.ok(!ops.rows.some((r) => r.r.includes(shop.password)), 'the shop password is in an ops table');
  }

  void test('a period run while the stream runs reconciles the month with the source, says what it repaired, and the stream keeps its changes', async () => {
    await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000 });
    // the slot was kept: no initial run this time
    await waitForStreamCatchUp(shop.pool, SLOT);
    // drift: staging loses a line and an order changes behind the stream's back
    const { rows } = await h.db.pool.query(
      `SELECT d.order_detail_id AS line, o.order_id AS ord FROM staging.order_details d JOIN staging.orders o USING (order_id)
        WHERE to_char(o.order_date, 'YYYY-MM') = '2022-03' ORDER BY 1 LIMIT 1`,
    );
    await h.db.pool.query(`DELETE FROM staging.order_details WHERE order_detail_id = $1`, [rows[0].line]);
    await h.db.pool.query(`UPDATE staging.orders SET customer_id = customer_id + 1 WHERE order_id = $1`, [rows[0].ord]);
    // the month runs while the shop keeps changing
    let quiet = false;
    const changing = changeShop(shop.pool, { rounds: 200, seed: 2, pauseMs: 50, stopAt: () => quiet });
    const started = await startPipeline(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, period: '2022-03', runKey: 'march', rejectBudget: '10' });
    const summary = (await started.handle.result().catch((err: Error & { cause?: Error & { cause?: Error } }) => {
      quiet = true;
      throw new Error(`the March run failed: ${err.cause?.message ?? ''} ${err.cause?.cause?.message ?? ''}`);
    })) as PipelineSummary;
    quiet = true;
    await changing;
    const repaired = Object.fromEntries(summary.loads.map((l) => [l.source, l.repaired]));
    assert.ok((repaired.orders?.updated ?? 0) >= 1, `orders repaired: ${JSON.stringify(repaired.orders)}`);
    assert.ok((repaired.order_details?.inserted ?? 0) >= 1, `order_details repaired: ${JSON.stringify(repaired.order_details)}`);
    await waitForStreamCatchUp(shop.pool, SLOT);
    // the stream notices the publish at once; give it a moment to rebuild what the run overwrote
    await new Promise((r) => setTimeout(r, 2_500));
    const streamed = await streamedTables(h.db.pool);
    await stopStream(h.client, DATASET, { dropSlot: true });
    const slots = await shop.pool.query(`SELECT count(*)::int AS n FROM pg_replication_slots`);
    assert.equal(slots.rows[0].n, 0, 'stop --drop-slot dropped the slot');
    await batchRun('after-period');
    assertSameTables(streamed, await streamedTables(h.db.pool), 'stream + period run vs batch run');
  });
});
