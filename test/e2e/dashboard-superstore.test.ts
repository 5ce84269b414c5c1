import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startDashboard } from '../../src/dashboard/server';
import type { RunningDashboard } from '../../src/dashboard/server';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// The Superstore page with data, in headless Chromium. The Superstore marts (issue 8) are not built by this
// project yet, so this test builds tables of their contract (superstore_mart.*, the columns of issue 8) in PostgreSQL
// from order lines it generates in SQL, then checks that the page shows what SQL over those lines says: KPI cards
// and their change on the previous year, the segment treemap, customer search. Once the Superstore pipeline lands,
// the real pipeline's marts replace these tables.

const ROOT = path.resolve(import.meta.dirname, '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.GUDANG_CHROMIUM ?? '/usr/bin/chromium';

const BUILD = `
CREATE SCHEMA IF NOT EXISTS superstore_mart;
CREATE TEMP TABLE lines AS
  SELECT i AS row_id, 'O-' || (i / 3) AS order_id, 'C-' || (i % 40) AS customer_id,
         date '2015-01-01' + (i * 7 % 1460) AS order_date, (ARRAY['Consumer', 'Corporate', 'Home Office'])[1 + i % 3] AS segment,
         (ARRAY['East', 'West', 'Central', 'South'])[1 + i % 4] AS region, round((10 + i % 97 * 3.7)::numeric, 2) AS sales,
         round((i % 23 - 6)::numeric * 1.5, 2) AS profit, 1 + i % 5 AS quantity
    FROM generate_series(1, 1200) AS i;
CREATE TABLE superstore_mart.sales_kpi_yearly AS
  SELECT extract(year FROM order_date)::int AS year, sum(sales) AS sales, sum(profit) AS profit,
         round(100 * sum(profit) / sum(sales), 2) AS profit_margin_pct, count(DISTINCT order_id) AS orders,
         count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity,
         round(sum(sales) / count(DISTINCT order_id), 2) AS average_order_value,
         NULL::numeric AS sales_yoy_growth_pct, NULL::numeric AS profit_yoy_growth_pct
    FROM lines GROUP BY 1;
CREATE TABLE superstore_mart.sales_kpi_monthly AS
  SELECT date_trunc('month', order_date)::date AS month, sum(sales) AS sales, sum(profit) AS profit,
         round(100 * sum(profit) / sum(sales), 2) AS profit_margin_pct, count(DISTINCT order_id) AS orders,
         count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity,
         round(sum(sales) / count(DISTINCT order_id), 2) AS average_order_value,
         NULL::numeric AS sales_mom_growth_pct, NULL::numeric AS sales_yoy_growth_pct
    FROM lines GROUP BY 1;
CREATE TABLE superstore_mart.sales_kpi_by_dimension AS
  SELECT extract(year FROM order_date)::int AS year, d.dimension, d.member, sum(sales) AS sales, sum(profit) AS profit,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity
    FROM lines CROSS JOIN LATERAL (VALUES ('segment', segment), ('region', region)) AS d(dimension, member) GROUP BY 1, 2, 3;
CREATE TABLE superstore_mart.rfm_customers AS
  SELECT a.as_of, customer_id, customer_id || ' Name' AS customer_name, (a.as_of - max(order_date))::int AS recency_days,
         count(DISTINCT order_id) AS frequency, sum(sales) AS monetary, 3 AS r_score, 3 AS f_score, 3 AS m_score,
         CASE WHEN a.as_of - max(order_date) < 60 THEN 'Champions' WHEN a.as_of - max(order_date) < 200 THEN 'Loyal' ELSE 'At Risk' END AS rfm_segment
    FROM lines CROSS JOIN (VALUES (date '2017-11-30'), (date '2018-12-31')) AS a(as_of)
   WHERE order_date <= a.as_of GROUP BY 1, 2;
CREATE TABLE superstore_mart.rfm_segments AS
  SELECT as_of, rfm_segment, count(*) AS customers, round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY as_of), 2) AS customers_share_pct,
         sum(monetary) AS monetary, round(100 * sum(monetary) / sum(sum(monetary)) OVER (PARTITION BY as_of), 2) AS monetary_share_pct,
         avg(recency_days) AS avg_recency_days, avg(frequency) AS avg_frequency
    FROM superstore_mart.rfm_customers GROUP BY 1, 2;`;

describe('the Superstore page with marts of the issue-8 contract', () => {
  let db: TestDatabase;
  let dashboard: RunningDashboard;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found`);
    db = await createTestDatabase('gudang_dash_ss');
    await migrate(db.pool);
    const client = await db.pool.connect();
    try {
      await client.query(BUILD); // one session: the lines are a temporary table
    } finally {
      client.release();
    }
    dashboard = await startDashboard({ databaseUrl: db.url, temporalUiUrl: 'http://127.0.0.1:8233', temporalNamespace: 'default', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(30_000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    await db?.drop();
  });

  test('KPI cards, their change on the previous year, segments and customer search equal SQL', async () => {
    await page.goto(`${dashboard.url}#/superstore`);
    await page.locator('main[data-page="superstore"][data-ready="true"]').waitFor();
    assert.equal(await page.getByTestId('superstore-empty').isVisible(), false);

    const { rows: years } = await db.pool.query(`SELECT year, sales::float8, orders::int FROM superstore_mart.sales_kpi_yearly ORDER BY year DESC LIMIT 2`);
    assert.equal(Number(await page.getByTestId('kpi-sales').getAttribute('data-value')), years[0].sales);
    assert.equal(Number(await page.getByTestId('kpi-orders').getAttribute('data-value')), years[0].orders);
    const change = Math.round(((years[0].sales - years[1].sales) / years[1].sales) * 10000) / 100;
    assert.match(await page.getByTestId('kpi-sales-change').innerText(), new RegExp(`${change > 0 ? '\\+' : ''}${change.toFixed(2)}% on ${years[1].year}`));

    // Period filter of the KPI cards: the first year has no previous year.
    const { rows: first } = await db.pool.query(`SELECT min(year) AS year FROM superstore_mart.sales_kpi_yearly`);
    await page.getByTestId('superstore-kpis-year').selectOption(String(first[0].year));
    await page.getByTestId('kpi-sales-change').filter({ hasText: 'no previous year' }).waitFor();

    // Treemap: customers per segment of the latest snapshot.
    const { rows: segs } = await db.pool.query(`SELECT rfm_segment, count(*)::int AS n FROM superstore_mart.rfm_customers WHERE as_of = '2018-12-31' GROUP BY 1 ORDER BY 2 DESC, 1`);
    const treemap = (await page.evaluate(
      `window.echarts.getInstanceByDom(document.querySelector('[data-testid="superstore-rfm-treemap-chart"]')).getOption().series[0].data.map((d) => [d.name, d.value])`,
    )) as [string, number][];
    assert.deepEqual(treemap, segs.map((s) => [s.rfm_segment, s.n]));

    // Customer search.
    await page.getByTestId('superstore-customers-search').fill('C-1');
    const { rows: found } = await db.pool.query(`SELECT count(*)::int AS n FROM superstore_mart.rfm_customers WHERE as_of = '2018-12-31' AND customer_id ILIKE '%C-1%'`);
    await page.locator(`[data-testid="superstore-customers-total"][data-total="${found[0].n}"]`).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-superstore.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});
