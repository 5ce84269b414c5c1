import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { generateDataset } from '../../dataset/generate';
import { createIngestActivities } from '../../activities/ingest';
import { startPipeline } from '../../src/client';
import type { PipelineSummary } from '../../src/contracts';
import { djangoApparel } from '../../src/datasets/django-apparel';
import type { ChunkHeartbeat } from '../../src/ingest/chunk';
import { loadChunk } from '../../src/ingest/chunk';
import { planLoad } from '../../src/ingest/plan';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// The fan-out through Temporal: planLoad -> loadChunk x N (side by side) -> publishLoad, and the heartbeat a
// retried chunk sends first (the checkpoint it resumes from).

const LINES = 40_000;
const orderDetails = djangoApparel.sources.find((s) => s.name === 'order_details')!;

let h: PipelineHarness;
let worker: Worker;
let workerDone: Promise<void>;
let dir: string;

before(async () => {
  h = await startHarness();
  // the activities read GUDANG_CHUNK_BYTES when the worker creates them
  process.env.GUDANG_CHUNK_BYTES = String(96 * 1024);
  worker = await h.newWorker();
  delete process.env.GUDANG_CHUNK_BYTES;
  workerDone = worker.run();
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-fanout-'));
  await generateDataset({ orderLines: LINES, out: dir, seed: 11 });
});

after(async () => {
  worker?.shutdown();
  await workerDone;
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

void describe('ingest fan-out in the pipeline workflow', () => {
  void test('a big CSV is loaded by parallel chunk activities, then published once, with exact counts', async () => {
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: dir, runKey: 'fanout' });
    const summary = (await run.handle.result()) as PipelineSummary;
    const od = summary.loads.find((l) => l.source === 'order_details')!;
    assert.ok(od.chunks! >= 10, `order_details in several chunks, got ${od.chunks}`);
    assert.deepEqual([od.rowsRead, od.rowsLoaded, od.rowsRejected], [LINES, LINES, 0]);
    assert.equal(summary.rows['warehouse.fct_transactions'], LINES);
    const staged = await h.db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT order_detail_id)::int AS ids FROM staging.order_details`);
    assert.deepEqual(staged.rows[0], { n: LINES, ids: LINES });

    const events = (await run.handle.fetchHistory()).events!;
    const scheduled = events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : []));
    const chunkActivities = scheduled.filter((a) => a.activityType?.name === 'loadChunk');
    const inputOf = (a: (typeof scheduled)[number]) => JSON.parse(Buffer.from(a.input!.payloads![0]!.data!).toString('utf8')) as { source: string };
    const forOrderDetails = chunkActivities.filter((a) => inputOf(a).source === 'order_details');
    assert.equal(forOrderDetails.length, od.chunks);
    for (const a of chunkActivities) assert.equal(Number(a.heartbeatTimeout?.seconds), 10, 'a dead worker is noticed within 10 s');
    const types = new Set(scheduled.map((a) => a.activityType?.name));
    for (const t of ['planLoad', 'loadChunk', 'publishLoad']) assert.ok(types.has(t), `${t} ran`);
    assert.ok(!types.has('loadSource'), 'the single-activity load is only for histories from before the fan-out');
    // chunks ran side by side (history events cannot tell: Temporal records an activity's start with its end)
    const overlap = await h.db.pool.query(
      `SELECT count(*)::int AS n FROM ops.load_chunks a JOIN ops.load_chunks b
          ON a.run_id = b.run_id AND a.source = b.source AND a.chunk < b.chunk
       WHERE a.run_id = $1 AND a.source = 'order_details' AND b.started_at < a.finished_at AND a.started_at < b.finished_at`,
      [run.runId],
    );
    assert.ok(overlap.rows[0].n > 0, 'some chunks of order_details loaded at the same time');
    // payloads carry references only: the biggest activity input or result stays tiny
    const sizes = events
      .flatMap((e) => [e.activityTaskScheduledEventAttributes?.input, e.activityTaskCompletedEventAttributes?.result])
      .flatMap((p) => p?.payloads ?? [])
      .map((p) => p.data?.length ?? 0);
    assert.ok(Math.max(...sizes) < 8 * 1024, `largest payload ${Math.max(...sizes)} bytes`);
  });

  void test('a retried chunk heartbeats the checkpoint it resumes from before loading more', async () => {
    const plan = await planLoad(h.db.pool, orderDetails, dir, { runId: 'mock-resume', dataset: 'django-apparel', chunkBytes: 1 << 30 });
    await assert.rejects(loadChunk(h.db.pool, orderDetails, 'mock-resume', 0, { batchBytes: 64 * 1024, readBytes: 64 * 1024, failAfterBatches: 2 }), /fault injected/);
    const committed = await h.db.pool.query(`SELECT rows_read::int AS r, byte_done::bigint AS b FROM ops.load_chunks WHERE run_id = 'mock-resume'`);
    const { r: rowsCommitted } = committed.rows[0] as { r: number };
    assert.ok(rowsCommitted > 0);

    const activities = createIngestActivities(h.db.pool, {});
    const env = new MockActivityEnvironment({ heartbeatDetails: { committedRows: rowsCommitted }, attempt: 2 });
    const beats: ChunkHeartbeat[] = [];
    env.on('heartbeat', (d: ChunkHeartbeat) => beats.push(d));
    const result: Awaited<ReturnType<typeof activities.loadChunk>> = await env.run(activities.loadChunk, { dataset: 'django-apparel', source: 'order_details', runId: 'mock-resume', chunk: 0 });
    assert.equal(result.resumedFromRow, rowsCommitted);
    assert.equal(result.rowsRead, LINES);
    const first = beats.find((b) => b && typeof b === 'object' && 'committedRows' in b)!;
    assert.equal(first.committedRows, rowsCommitted, 'first heartbeat: the committed checkpoint');
    assert.ok(first.byteOffset > plan.chunks[0]!.byteStart);
    assert.equal(first.resumedFromRow, rowsCommitted);
    const publish: Awaited<ReturnType<typeof activities.publishLoad>> = await env.run(activities.publishLoad, { dataset: 'django-apparel', source: 'order_details', runId: 'mock-resume' });
    assert.equal(publish.status, 'published');
  });
});
