import type { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startPipeline } from '../../src/client';
import { startDashboard } from '../../src/dashboard/server';
import type { RunningDashboard } from '../../src/dashboard/server';
import { openTestBrowser } from '../helpers/browser';
import type { TestBrowser } from '../helpers/browser';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// The dashboard in headless Chromium against the real server, on the real seed data loaded by the real pipeline
// (Temporal dev server, worker, PostgreSQL): every page renders without console errors, the figures shown equal
// SQL the test computes from the warehouse's fact, filters change what is shown, a new run shows up without a
// reload. Screenshots: test-artifacts/dashboard-*.png.

const ROOT = path.resolve(import.meta.dirname, '../..');
const SEED = path.resolve(ROOT, '../shared/datasets/django-apparel');

describe('the dashboard shows the marts and the runs', () => {
  let h: PipelineHarness;
  let worker: Worker;
  let workerDone: Promise<void>;
  let dashboard: RunningDashboard;
  let browser: TestBrowser;
  let page: Page;
  let badDir: string;

  const run = async (opts: { period: string; runKey: string; sourceDir?: string; rejectBudget?: string }) => {
    const started = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: opts.sourceDir ?? SEED, ...opts });
    return started.handle.result().then(
      () => started,
      () => started,
    );
  };

  before(async () => {
    browser = await openTestBrowser();
    page = browser.page;
    h = await startHarness();
    worker = await h.newWorker();
    workerDone = worker.run();
    // A copy of the seed with one bad order line: a run with no reject budget fails on it, one with a budget loads
    // the rest and quarantines it.
    badDir = await mkdtemp(path.join(tmpdir(), 'gudang-dash-'));
    await cp(SEED, badDir, { recursive: true });
    const details = (await readFile(path.join(badDir, 'order_details.csv'), 'utf8')).split('\n');
    details[3] = details[3]!.replace(/^(\d+,\d+,\d+),\d+,/, '$1,three,');
    await writeFile(path.join(badDir, 'order_details.csv'), details.join('\n'));

    await run({ period: '2022-01', runKey: '2022-01' });
    await run({ period: '2022-02', runKey: 'bad-2022-02', sourceDir: badDir });
    await run({ period: '2022-02', runKey: 'budget-2022-02', sourceDir: badDir, rejectBudget: '5' });

    dashboard = await startDashboard({ databaseUrl: h.db.url, temporalUiUrl: h.config.TEMPORAL_UI_URL, temporalNamespace: h.config.TEMPORAL_NAMESPACE, port: 0 });
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    worker?.shutdown();
    await workerDone;
    await h?.close();
    if (badDir) await rm(badDir, { recursive: true, force: true });
  });

  const open = async (name: string) => {
    await page.goto(`${dashboard.url}#/${name}`);
    await page.locator(`main[data-page="${name}"][data-ready="true"]`).waitFor();
  };
  const shot = (name: string) => browser.screenshot(`dashboard-${name}`);
  const seriesData = async (testId: string) =>
    (await page.evaluate(
      `(() => window.echarts.getInstanceByDom(document.querySelector('[data-testid="${testId}"]')).getOption().series.map((s) => ({ name: s.name, data: s.data })))()`,
    )) as { name: string; data: unknown[] }[];
  const js = <T>(expression: string) => page.evaluate(expression) as Promise<T>;
  const ready = () => page.locator('main[data-ready="true"]').waitFor();

  test('Django Apparel: monthly figures equal the fact; filters change the product table and the top N', async () => {
    await open('apparel');
    const { rows: months } = await h.db.pool.query(
      `SELECT extract(month FROM d.month_start)::int AS m, sum(f.unit_sales)::float8 AS revenue, count(DISTINCT f.order_id)::int AS orders
         FROM warehouse.fct_transactions f JOIN warehouse.dim_date d USING (date_key) GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(months.map((r) => r.m), [1, 2], 'January and February are loaded');
    await page.locator('[data-testid="apparel-monthly-totals"][data-months="2"]').waitFor();
    const [series] = await seriesData('apparel-monthly-chart');
    assert.equal(series!.name, '2022');
    assert.deepEqual(series!.data.slice(0, 2), months.map((r) => r.revenue));
    assert.deepEqual(series!.data.slice(2), Array(10).fill(null));

    // Period filter: February only.
    await page.getByTestId('apparel-monthly-from').fill('2022-02');
    await page.locator('[data-testid="apparel-monthly-totals"][data-months="1"]').waitFor();
    assert.equal(await page.getByTestId('apparel-monthly-totals').getAttribute('data-orders'), String(months[1]!.orders));
    assert.match((await page.getByTestId('apparel-monthly-csv').getAttribute('href'))!, /from=2022-02&format=csv/);

    // The product table and its filters, against the fact.
    const total = async () => Number(await page.getByTestId('apparel-products-total').getAttribute('data-total'));
    const { rows: all } = await h.db.pool.query(
      `SELECT count(DISTINCT (location_key, product_key))::int AS n FROM warehouse.fct_transactions`,
    );
    assert.equal(await total(), all[0].n);
    const { rows: top } = await h.db.pool.query(
      `SELECT l.province_name, count(DISTINCT (f.location_key, f.product_key))::int AS n
         FROM warehouse.fct_transactions f JOIN warehouse.dim_locations l USING (location_key)
        GROUP BY 1 ORDER BY sum(f.unit_sales) DESC, 1 LIMIT 1`,
    );
    await page.getByTestId('apparel-filter-province').selectOption(top[0].province_name);
    await page.locator(`[data-testid="apparel-products-total"][data-total="${top[0].n}"]`).waitFor();
    const provinces = await page.locator('[data-testid="apparel-products-table"] tbody tr td:first-child').allTextContents();
    assert.ok(provinces.length > 0 && provinces.every((p) => p === top[0].province_name), 'every row is of the chosen province');
    const { rows: topProducts } = await h.db.pool.query(
      `SELECT p.product_name, sum(f.unit_sales)::float8 AS sales
         FROM warehouse.fct_transactions f JOIN warehouse.dim_locations l USING (location_key) JOIN warehouse.dim_products p USING (product_key)
        WHERE l.province_name = $1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5`,
      [top[0].province_name],
    );
    await page.getByTestId('apparel-top-n').selectOption('5');
    await ready();
    await assertEventually(async () => {
      const [bars] = await seriesData('apparel-top-chart');
      assert.deepEqual([...bars!.data].reverse(), topProducts.map((r) => r.sales));
    });

    // Period: February only. The product views read the month grain; the figures follow the fact's February lines.
    const { rows: febTop } = await h.db.pool.query(
      `SELECT p.product_name, sum(f.unit_sales)::float8 AS sales
         FROM warehouse.fct_transactions f JOIN warehouse.dim_locations l USING (location_key) JOIN warehouse.dim_products p USING (product_key)
         JOIN warehouse.dim_date d USING (date_key)
        WHERE l.province_name = $1 AND d.year_month = '2022-02' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5`,
      [top[0].province_name],
    );
    const { rows: febPairs } = await h.db.pool.query(
      `SELECT count(DISTINCT (f.location_key, f.product_key))::int AS n
         FROM warehouse.fct_transactions f JOIN warehouse.dim_locations l USING (location_key) JOIN warehouse.dim_date d USING (date_key)
        WHERE l.province_name = $1 AND d.year_month = '2022-02'`,
      [top[0].province_name],
    );
    await page.getByTestId('apparel-filter-period-from').fill('2022-02');
    await page.getByTestId('apparel-filter-period-to').fill('2022-02');
    await page.locator(`[data-testid="apparel-products-total"][data-total="${febPairs[0].n}"]`).waitFor();
    await assertEventually(async () => {
      const [bars] = await seriesData('apparel-top-chart');
      assert.deepEqual([...bars!.data].reverse(), febTop.map((r) => r.sales));
    });
    assert.notDeepEqual(febTop.map((r) => r.sales), topProducts.map((r) => r.sales), 'February alone differs from all time');
    assert.match((await page.getByTestId('apparel-top-csv').getAttribute('href'))!, /from=2022-02&to=2022-02/);
    await shot('apparel');
  });

  test('Runs: each run with its status, rows, failing step and error, rejected rows and Web UI link', async () => {
    await open('runs');
    const { rows: runs } = await h.db.pool.query(`SELECT run_id, workflow_id, status FROM ops.pipeline_runs ORDER BY started_at DESC`);
    assert.equal(runs.length, 3);
    const links = page.getByTestId('run-link');
    assert.deepEqual(await links.allTextContents(), runs.map((r) => r.workflow_id));
    const href = await links.first().getAttribute('href');
    assert.equal(href, `${h.config.TEMPORAL_UI_URL}/namespaces/${h.config.TEMPORAL_NAMESPACE}/workflows/${runs[0].workflow_id}/${runs[0].run_id}/history`);

    // The newest run (with a reject budget) is selected: its one rejected row is shown with its reason.
    const rejected = page.locator('[data-testid="runs-rejected-table"] tbody tr');
    await assertEventually(async () => assert.equal(await rejected.count(), 1));
    assert.match(await rejected.first().innerText(), /order_details[\s\S]*qty[\s\S]*three/);

    // The failed run: its failing step and error.
    const failed = runs.find((r) => r.status === 'failed');
    assert.ok(failed, 'the run without a reject budget failed');
    const { rows: steps } = await h.db.pool.query(`SELECT step, error FROM ops.step_runs WHERE run_id = $1 AND status = 'failed' ORDER BY seq LIMIT 1`, [failed.run_id]);
    const failedRow = page.locator('[data-testid="runs-table"] tbody tr', { hasText: failed.workflow_id });
    assert.match(await failedRow.innerText(), new RegExp(`failed[\\s\\S]*${escape(steps[0].step)}`));
    await failedRow.click();
    await page.getByTestId('runs-steps-run').filter({ hasText: failed.workflow_id }).waitFor();
    await page.locator('[data-testid="runs-steps-table"] td.err', { hasText: /qty/ }).first().waitFor();

    // Filter: failed runs only.
    await page.getByTestId('runs-status').selectOption('failed');
    await assertEventually(async () => assert.deepEqual(await links.allTextContents(), [failed.workflow_id]));
    await page.getByTestId('runs-status').selectOption('');
    await assertEventually(async () => assert.equal(await links.count(), 3));
    await shot('runs');
  });

  test('Superstore: says so while no Superstore data is loaded', async () => {
    await open('superstore');
    await page.getByTestId('superstore-empty').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('superstore-empty').innerText(), /No Superstore data loaded/);
    assert.equal(await page.getByTestId('superstore-kpis').isVisible(), false);
    await shot('superstore-empty');
  });

  test('a finished run shows up without a reload', async () => {
    await open('apparel');
    await js('window.marker = 42');
    const refreshes = await js<number>('window.gudangDashboard.refreshes');
    await run({ period: '2022-03', runKey: '2022-03' });
    const finished = Date.now();
    await page.locator('[data-testid="apparel-monthly-totals"][data-months="3"]').waitFor({ timeout: 10_000 });
    const took = Date.now() - finished;
    assert.ok(took < 5_000, `the page showed the new month ${took} ms after the run finished (limit 5 s)`);
    assert.equal(await js<number>('window.marker'), 42, 'the page was not reloaded');
    // The month is drawn inside the refresh, which counts itself when it has finished (charts resized, ready set).
    await assertEventually(async () => assert.ok((await js<number>('window.gudangDashboard.refreshes')) > refreshes));
    await open('runs');
    await shot('runs-after-new-run');
  });

  test('the stream card: state and lag of the stream from its ops tables, shown without a reload, filtered by period', async () => {
    await open('runs');
    assert.equal(await page.getByTestId('runs-stream').isVisible(), false, 'no stream has run: no card');
    await js('window.marker = 43');
    // Rows as the stream's apply step writes them (migration 040's ops.streams and ops.stream_batches): 10 batches on
    // 15 January 2026 and 20 recent ones, with lags chosen here.
    const lags = Array.from({ length: 30 }, (_, i) => 40 + ((i * 37) % 200) + i / 10);
    const old = lags.slice(0, 10);
    const recent = lags.slice(10);
    for (const [i, lag] of lags.entries()) {
      const at = i < 10 ? `timestamptz '2026-01-15 12:00:00+00' + ${i} * interval '1 minute'` : `clock_timestamp() - ${30 - i} * interval '1 second'`;
      await h.db.pool.query(
        `INSERT INTO ops.stream_batches (dataset, first_lsn, last_lsn, transactions, changes, rows_by_table, orders_affected, first_commit_at, last_commit_at, received_at, committed_at, lag_ms, apply_ms)
         VALUES ('django-apparel', $1, $1, 1, 3, '{"order_details": {"insert": 3, "update": 0, "delete": 0}}', 1, ${at}, ${at}, ${at}, ${at}, $2, 5)`,
        [`0/${(i + 1).toString(16)}000`, lag],
      );
    }
    await h.db.pool.query(
      `INSERT INTO ops.streams (dataset, source_db, slot_name, publication, workflow_id, status, applied_lsn, applied_at, batches, changes, last_lag_ms)
       VALUES ('django-apparel', 'postgres://shop@127.0.0.1:5432/shop', 'gudang_django_apparel', 'gudang_django_apparel', 'gudang-stream-django-apparel', 'running', '0/1E000', clock_timestamp(), 30, 90, $1)`,
      [lags.at(-1)],
    );
    const written = Date.now();
    await page.getByTestId('runs-stream').waitFor({ state: 'visible', timeout: 10_000 });
    const took = Date.now() - written;
    assert.ok(took < 5_000, `the stream card appeared ${took} ms after the stream wrote its row (limit 5 s)`);
    assert.equal(await js<number>('window.marker'), 43, 'the page was not reloaded');

    const value = async (key: string) => Number(await page.getByTestId(`stream-${key}-django-apparel`).getAttribute('data-value'));
    const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: card ${a}, expected ${b}`);
    assert.equal(await page.getByTestId('stream-status-django-apparel').getAttribute('data-value'), 'running');
    close(await value('last_lag_ms'), lags.at(-1)!, 'lag of the last batch');
    close(await value('lag_p50_ms'), percentile(lags, 0.5), 'p50 over the last 100 batches');
    close(await value('lag_p95_ms'), percentile(lags, 0.95), 'p95 over the last 100 batches');
    close(await value('lag_max_ms'), Math.max(...lags), 'max');
    const points = await seriesData('runs-stream-lag-chart');
    assert.deepEqual(points[0]!.data.map((d) => (d as [string, number])[1]), lags, 'the chart has every batch, oldest first');

    // Period: January 2026 holds the 10 old batches only; the figures follow.
    await page.getByTestId('runs-stream-period-from').fill('2026-01-01');
    await page.getByTestId('runs-stream-period-to').fill('2026-01-31');
    await page.locator('[data-testid="stream-lag_p95_ms-django-apparel"]').filter({ hasText: /./ }).waitFor();
    await assertEventually(async () => close(await value('lag_p95_ms'), percentile(old, 0.95), 'p95 in January 2026'));
    close(await value('lag_p50_ms'), percentile(old, 0.5), 'p50 in January 2026');
    assert.ok(percentile(old, 0.95) !== percentile(recent, 0.95));
    assert.equal((await seriesData('runs-stream-lag-chart'))[0]!.data.length, 10);
    assert.match((await page.getByTestId('runs-stream-csv').getAttribute('href'))!, /^\/api\/stream\?from=2026-01-01&to=2026-01-31&format=csv$/);
    await shot('runs-stream');
  });

  test('no page logged a console error', () => {
    assert.deepEqual(browser.consoleErrors, []);
  });
});

/** PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function assertEventually(check: () => Promise<void>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
