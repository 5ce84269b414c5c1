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

/** The stream's quarantine now: ops.stream_rejected. */
async function keptOut(): Promise<{ source: string; key: Record<string, string>; kind: string; errors: string[] }[]> {
  const { rows } = await h.db.pool.query(`SELECT source, key, kind, errors FROM ops.stream_rejected WHERE dataset = $1 ORDER BY source, key`, [DATASET]);
  return rows;
}

const keyList = (rows: { source: string; key: Record<string, string> }[]) => rows.map((r) => `${r.source} ${Object.values(r.key).join(',')}`).sort();

/** The rows a run rejected or quarantined, as "source key". */
async function runRejects(runId: string): Promise<string[]> {
  const { rows } = await h.db.pool.query<{ source: string; key: string }>(
    `SELECT source, CASE source WHEN 'orders' THEN raw->>'order_id' ELSE raw->>'order_detail_id' END AS key FROM ops.rejected_rows WHERE run_id = $1`,
    [runId],
  );
  return rows.map((r) => `${r.source} ${r.key}`).sort();
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
    // kept out now: the line with quantity 0, the order left invalid and its three lines (quarantined with it)
    const kept = await keptOut();
    assert.deepEqual(
      kept.map((r) => r.kind).sort(),
      ['invalid', 'invalid', 'parent row rejected', 'parent row rejected', 'parent row rejected'],
      `ops.stream_rejected: ${JSON.stringify(kept)}`,
    );
    for (const r of kept.filter((x) => x.kind === 'parent row rejected')) assert.match(r.errors[0]!, /^its parent row was rejected \(orders order_id=\d+, by the stream\): quarantined with it$/);
    const held = await h.db.pool.query(`SELECT count(*)::int AS n FROM ops.stream_batches, jsonb_array_elements(rejected) e WHERE dataset = $1 AND e->>'parent' = 'orders'`, [DATASET]);
    assert.ok(held.rows[0].n >= 3, `ops.stream_batches.rejected names the lines held with their order (${held.rows[0].n})`);
    assert.ok(report.recent.rejected >= 5, `rows not staged: ${report.recent.rejected}`);
    assert.deepEqual(report.keptOut, { invalid: 2, quarantined: 3 });
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

    // the reference: a full batch run over the same source rows; it keeps out the same rows
    const batch = await batchRun('after-stream');
    assertSameTables(streamed, await streamedTables(h.db.pool), 'stream vs batch run');
    assert.deepEqual(keyList(kept), await runRejects(batch.runId), 'the stream keeps out the rows the batch run rejects or quarantines');

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

  void test('an order a full run rejected while the stream was stopped comes back with its lines once corrected; ops.stream_touched is pruned', async () => {
    const streaming = async () => {
      const deadline = Date.now() + 90_000;
      while ((await queryStream(h.client, DATASET)).phase !== 'streaming') {
        assert.ok(Date.now() < deadline, 'the stream did not reach its streaming phase');
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    // a new slot starts with an initial full run; the first test left an invalid order and line in the shop, so that
    // run needs a reject budget, as a pipeline run would (stream start --reject-budget)
    await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000, rejectBudget: '10' });
    await streaming();
    const initialRun = await h.db.pool.query<{ run_id: string }>(
      `SELECT run_id FROM ops.pipeline_runs WHERE workflow_id = $1 AND status = 'completed' ORDER BY started_at DESC LIMIT 1`,
      [`gudang-${DATASET}-stream-initial-load`],
    );
    assert.ok(initialRun.rows[0], 'the initial run under a reject budget completed');
    assert.ok((await runRejects(initialRun.rows[0].run_id)).length > 0, 'and rejected the invalid rows the shop holds');
    await stopStream(h.client, DATASET, { dropSlot: true });

    // then the shop is made valid (no slot exists, so nothing of this is streamed) and a new slot starts again
    await shop.pool.query(`UPDATE orders SET customer_id = (SELECT min(customer_id) FROM orders) WHERE customer_id IS NULL`);
    await shop.pool.query(`DELETE FROM order_details WHERE qty <= 0`);
    await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000 });
    await streaming();
    await waitForStreamCatchUp(shop.pool, SLOT);
    await stopStream(h.client, DATASET);

    // while the stream is stopped (its slot kept) an order with lines becomes invalid and a full run reads the shop:
    // it rejects the order and quarantines its lines (not in staging any more, so only the run knows them)
    const { rows } = await shop.pool.query(
      `SELECT o.order_id::int AS o, o.customer_id::int AS c, count(*)::int AS lines
         FROM orders o JOIN order_details d USING (order_id) GROUP BY 1, 2 ORDER BY 1 LIMIT 1`,
    );
    const { o: order, c: customer, lines } = rows[0];
    await shop.pool.query(`UPDATE orders SET customer_id = NULL WHERE order_id = $1`, [order]);
    const summary = await batchRun('invalid-while-stopped');
    const rejectedByRun = await runRejects(summary.runId);
    assert.deepEqual(rejectedByRun.filter((k) => k.startsWith('orders ')), [`orders ${order}`], `the run rejected order ${order}: ${rejectedByRun.join('; ')}`);
    assert.equal(rejectedByRun.length, 1 + lines, `the run quarantined the order's ${lines} line(s): ${rejectedByRun.join('; ')}`);

    // the stream starts again: its first batch after the run's publish takes the run's quarantine over
    await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000 });
    await streaming();
    await waitForStreamCatchUp(shop.pool, SLOT);
    const ofOrder = async () =>
      (await h.db.pool.query(`SELECT kind FROM ops.stream_rejected WHERE dataset = $1 AND (key->>'order_id' = $2 OR parent_key->>'order_id' = $2) ORDER BY kind`, [DATASET, String(order)])).rows.map(
        (r: { kind: string }) => r.kind,
      );
    const deadline = Date.now() + 30_000;
    while (keyList(await keptOut()).join() !== rejectedByRun.join()) {
      assert.ok(Date.now() < deadline, `the stream did not take over the run's quarantine: ${JSON.stringify(await keptOut())} vs ${rejectedByRun.join('; ')}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(await ofOrder(), ['invalid', ...Array<string>(lines).fill('parent row rejected')]);
    const staged = async () => (await h.db.pool.query(`SELECT count(*)::int AS n FROM staging.order_details WHERE order_id = $1`, [order])).rows[0].n as number;
    assert.equal(await staged(), 0, 'the lines of the rejected order are not staged');

    // the order is corrected in the shop (its lines untouched): the stream puts its lines back
    await shop.pool.query(`UPDATE orders SET customer_id = $2 WHERE order_id = $1`, [order, customer]);
    await waitForStreamCatchUp(shop.pool, SLOT);
    assert.equal(await staged(), lines, 'the lines came back with their order');
    assert.deepEqual(await ofOrder(), [], 'nothing of the order is kept out any more');

    // pruning: rows of ops.stream_touched are made old (2 days, 2 hours); a run of the dataset (the initial one,
    // rewritten) that started 7 hours ago is still running (the stream no longer holds for it: 6 hours) and may still
    // need what was touched since
    const initial = await h.db.pool.query<{ run_id: string; status: string; started_at: Date; finished_at: Date }>(
      `SELECT run_id, status, started_at, finished_at FROM ops.pipeline_runs WHERE workflow_id = $1 ORDER BY started_at DESC LIMIT 1`,
      [`gudang-${DATASET}-stream-initial-load`],
    );
    const run = initial.rows[0]!;
    await h.db.pool.query(`UPDATE ops.pipeline_runs SET status = 'running', started_at = now() - interval '7 hours', finished_at = NULL WHERE run_id = $1`, [run.run_id]);
    try {
      await h.db.pool.query(
        `UPDATE ops.stream_touched SET applied_at = now() - CASE WHEN key % 2 = 0 THEN interval '2 days' ELSE interval '2 hours' END WHERE dataset = $1`,
        [DATASET],
      );
      const ages = async () =>
        (
          await h.db.pool.query<{ days: number; hours: number; recent: number }>(
            `SELECT count(*) FILTER (WHERE applied_at < now() - interval '1 day')::int AS days,
                    count(*) FILTER (WHERE applied_at BETWEEN now() - interval '3 hours' AND now() - interval '1 hour')::int AS hours,
                    count(*) FILTER (WHERE applied_at > now() - interval '1 hour')::int AS recent
               FROM ops.stream_touched WHERE dataset = $1`,
            [DATASET],
          )
        ).rows[0]!;
      // the keys in the 2-hour bucket; the new batch may touch one of them again (it then counts as recent)
      const hourKeys = async () =>
        (
          await h.db.pool.query<{ k: string }>(
            `SELECT source || ':' || key AS k FROM ops.stream_touched
              WHERE dataset = $1 AND applied_at BETWEEN now() - interval '3 hours' AND now() - interval '1 hour' ORDER BY 1`,
            [DATASET],
          )
        ).rows.map((r) => r.k);
      const before = await ages();
      const keptKeys = await hourKeys();
      assert.ok(before.days > 0 && before.hours > 0 && before.recent === 0, `made old: ${JSON.stringify(before)}`);
      await changeShop(shop.pool, { rounds: 1, seed: 3 });
      await waitForStreamCatchUp(shop.pool, SLOT);
      const after = await ages();
      assert.equal(after.days, 0, `rows older than every run that may need them are pruned: ${JSON.stringify(after)}`);
      const still = await h.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ops.stream_touched WHERE dataset = $1 AND source || ':' || key = ANY($2::text[])`,
        [DATASET, keptKeys],
      );
      assert.equal(still.rows[0]!.n, keptKeys.length, 'rows touched since the running run started are kept');
      assert.ok(after.recent > 0, 'the new batch recorded what it touched');
      // the run is over: the next batch may prune what only it could have needed (beyond the hour every row is kept)
      await h.db.pool.query(`UPDATE ops.pipeline_runs SET status = $2, started_at = $3, finished_at = $4 WHERE run_id = $1`, [run.run_id, run.status, run.started_at, run.finished_at]);
      await changeShop(shop.pool, { rounds: 1, seed: 4 });
      await waitForStreamCatchUp(shop.pool, SLOT);
      const later = await ages();
      assert.equal(later.hours, 0, `after the run finished, rows older than an hour are pruned: ${JSON.stringify(later)}`);
      assert.ok(later.recent >= after.recent, 'recent rows are kept');
    } finally {
      await h.db.pool.query(`UPDATE ops.pipeline_runs SET status = $2, started_at = $3, finished_at = $4 WHERE run_id = $1`, [run.run_id, run.status, run.started_at, run.finished_at]);
    }

    const streamed = await streamedTables(h.db.pool);
    const keptAtEnd = keyList(await keptOut());
    await stopStream(h.client, DATASET, { dropSlot: true });
    const batch = await batchRun('after-correction');
    assertSameTables(streamed, await streamedTables(h.db.pool), 'stream after a correction vs batch run');
    assert.deepEqual(keptAtEnd, await runRejects(batch.runId), 'the stream keeps out the rows the batch run rejects or quarantines');
  });
});
