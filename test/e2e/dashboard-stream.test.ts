import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import type { Page } from 'playwright-core';
import { generateDataset } from '../../dataset/generate';
import { seedShopDatabase } from '../../dataset/to-db';
import { startDashboard } from '../../src/dashboard/server';
import type { RunningDashboard } from '../../src/dashboard/server';
import { queryStream, startStream, stopStream } from '../../src/stream/client';
import { openTestBrowser } from '../helpers/browser';
import type { TestBrowser } from '../helpers/browser';
import { startLogicalPostgres, waitForStreamCatchUp } from '../helpers/logical-postgres';
import type { LogicalPostgres } from '../helpers/logical-postgres';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';
import { changeShop } from '../helpers/stream';

// The dashboard while the real-time stream runs (issue 11 on top of issue 13): a shop PostgreSQL with
// wal_level=logical, the stream workflow on a real Temporal dev server, the dashboard as in production, headless
// Chromium. The Runs page's stream card shows the stream's state and lag as ops.streams and ops.stream_batches hold
// them after real batches; the Django Apparel page shows a streamed change within 5 s, without a reload.

const DATASET = 'django-apparel';
const SLOT = 'gudang_django_apparel';

/** PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  return sorted[lo]! + (sorted[Math.ceil(pos)]! - sorted[lo]!) * (pos - lo);
}

describe('the dashboard while the stream runs', () => {
  let h: PipelineHarness;
  let shop: LogicalPostgres;
  let worker: Worker;
  let workerDone: Promise<void>;
  let dir: string;
  let dashboard: RunningDashboard;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    browser = await openTestBrowser();
    page = browser.page;
    [h, shop] = await Promise.all([startHarness(), startLogicalPostgres()]);
    dir = await mkdtemp(path.join(tmpdir(), 'gudang-dash-stream-'));
    await generateDataset({ orderLines: 1_000, out: dir, seed: 7, months: 3 });
    await seedShopDatabase(shop.url, dir);
    process.env.GUDANG_SOURCE_DB_URL = shop.url; // the worker's environment, as in production
    worker = await h.newWorker();
    workerDone = worker.run();
    await startStream(h.client, h.config, { dataset: DATASET, sourceDir: dir, sourceDb: shop.url, stretchMs: 4_000 });
    const deadline = Date.now() + 120_000;
    while ((await queryStream(h.client, DATASET)).phase !== 'streaming') {
      assert.ok(Date.now() < deadline, 'the stream did not reach its streaming phase');
      await new Promise((r) => setTimeout(r, 300));
    }
    dashboard = await startDashboard({ databaseUrl: h.db.url, temporalUiUrl: h.config.TEMPORAL_UI_URL, temporalNamespace: h.config.TEMPORAL_NAMESPACE, port: 0 });
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    await stopStream(h.client, DATASET, { dropSlot: true }).catch(() => undefined);
    delete process.env.GUDANG_SOURCE_DB_URL;
    worker?.shutdown();
    await workerDone;
    await h?.close();
    await shop?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a streamed change reaches the Django Apparel page within 5 s, without a reload', async () => {
    await page.goto(`${dashboard.url}#/apparel`);
    await page.locator('main[data-page="apparel"][data-ready="true"]').waitFor();
    await page.evaluate('window.marker = 44');
    const before = await page.getByTestId('apparel-monthly-totals').getAttribute('data-orders');
    await changeShop(shop.pool, { rounds: 5, seed: 3 });
    await waitForStreamCatchUp(shop.pool, SLOT);
    const caughtUp = Date.now();
    const { rows } = await h.db.pool.query<{ orders: string }>(`SELECT sum(total_orders)::text AS orders FROM mart.dm_revenue_by_months`);
    assert.notEqual(rows[0]!.orders, before, 'the shop changes moved the mart');
    await page.locator(`[data-testid="apparel-monthly-totals"][data-orders="${rows[0]!.orders}"]`).waitFor({ timeout: 10_000 });
    const took = Date.now() - caughtUp;
    assert.ok(took < 5_000, `the page showed the streamed change ${took} ms after the stream confirmed it (limit 5 s)`);
    assert.equal(await page.evaluate('window.marker'), 44, 'the page was not reloaded');
  });

  test("the stream card shows the stream's state and lag as its ops tables hold them", async () => {
    await changeShop(shop.pool, { rounds: 10, seed: 4 });
    await waitForStreamCatchUp(shop.pool, SLOT);
    await page.goto(`${dashboard.url}#/runs`);
    await page.locator('main[data-page="runs"][data-ready="true"]').waitFor();
    await page.getByTestId('runs-stream').waitFor({ state: 'visible' });
    const { rows: streams } = await h.db.pool.query<{ status: string; changes: string; last_lag_ms: number }>(
      `SELECT status, changes::text AS changes, last_lag_ms FROM ops.streams WHERE dataset = $1`,
      [DATASET],
    );
    // the card polls every 2 s: wait until it shows the stream's latest row
    await page.locator(`[data-testid="stream-changes-${DATASET}"][data-value="${streams[0]!.changes}"]`).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId(`stream-status-${DATASET}`).getAttribute('data-value'), streams[0]!.status);
    const { rows: batches } = await h.db.pool.query<{ lag_ms: number }>(
      `SELECT lag_ms FROM ops.stream_batches WHERE dataset = $1 AND transactions > 0 ORDER BY batch_id DESC LIMIT 100`,
      [DATASET],
    );
    assert.ok(batches.length > 0, 'the stream applied batches');
    const lags = batches.map((b) => b.lag_ms);
    const value = async (key: string) => Number(await page.getByTestId(`stream-${key}-${DATASET}`).getAttribute('data-value'));
    const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: card ${a}, ops.stream_batches ${b}`);
    close(await value('last_lag_ms'), streams[0]!.last_lag_ms, 'lag of the last batch');
    close(await value('lag_p50_ms'), percentile(lags, 0.5), 'p50');
    close(await value('lag_p95_ms'), percentile(lags, 0.95), 'p95');
    close(await value('lag_max_ms'), Math.max(...lags), 'max');
    await browser.screenshot('dashboard-runs-stream-live');
    assert.deepEqual(browser.consoleErrors, []);
  });
});
