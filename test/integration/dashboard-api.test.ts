import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createReadOnlyPool } from '../../src/dashboard/db';
import { startDashboard } from '../../src/dashboard/server';
import type { RunningDashboard } from '../../src/dashboard/server';
import type { Pool } from '../../src/db';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// The dashboard's API over real HTTP on loopback, on a migrated database with no data loaded: bad parameters are a
// 400 naming the parameter; the read-only role reads the marts and the run history and nothing else, and writes
// nothing; the Superstore endpoints say "not loaded" until its marts exist. (The figures themselves, on the real
// seed data, are checked in test/e2e/dashboard.test.ts.)

type Body = { error?: string; rows?: unknown[]; token?: string } & Record<string, unknown>;

describe('dashboard API: parameters, read-only role, empty states', () => {
  let db: TestDatabase;
  let dashboard: RunningDashboard;
  let ro: Pool;

  before(async () => {
    db = await createTestDatabase('gudang_dash_api');
    await migrate(db.pool);
    // Something outside the marts that must stay unreadable, and a mart table that must be readable.
    await db.pool.query(`CREATE TABLE staging.secret_orders (id int); INSERT INTO staging.secret_orders VALUES (1)`);
    await db.pool.query(`CREATE TABLE IF NOT EXISTS warehouse.secret_fact (id int)`);
    await db.pool.query(`CREATE TABLE public.secret (id int)`);
    await db.pool.query(`CREATE TABLE mart.dm_revenue_by_months (month date PRIMARY KEY, total_revenue numeric NOT NULL, total_orders bigint NOT NULL,
                           total_quantity bigint NOT NULL, average_order_value numeric NOT NULL)`);
    await db.pool.query(`INSERT INTO mart.dm_revenue_by_months VALUES ('2022-01-01', 100.5, 2, 3, 50.25), ('2022-02-01', 10, 1, 1, 10)`);
    dashboard = await startDashboard({ databaseUrl: db.url, temporalUiUrl: 'http://127.0.0.1:8233', temporalNamespace: 'default', port: 0 });
    ro = createReadOnlyPool(db.url, 2);
    // A table created after the role was set up, by the same owner (as a later run creates or swaps a mart in).
    await db.pool.query(`CREATE TABLE mart.created_later (id int); INSERT INTO mart.created_later VALUES (7)`);
  });

  after(async () => {
    await ro?.end();
    await dashboard?.close();
    await db?.drop();
  });

  const get = async (path: string) => {
    const res = await fetch(new URL(path, dashboard.url));
    const type = res.headers.get('content-type') ?? '';
    const body = (type.includes('json') ? await res.json() : await res.text()) as Body;
    return { status: res.status, type, body };
  };

  test('bad parameters get a 400 that names the parameter and what was expected', async () => {
    const cases: [string, RegExp][] = [
      ['/api/apparel/monthly?from=2022-13', /parameter 'from': expected a month as YYYY-MM \(got "2022-13"\)/],
      ['/api/apparel/monthly?from=2022-05&to=2022-01', /from \(2022-05\) is after to \(2022-01\)/],
      ['/api/apparel/monthly?table=staging.orders', /unknown parameter 'table' \(allowed: from, to, format\)/],
      ['/api/apparel/products?sort=1;DROP TABLE x', /parameter 'sort': .*(expected one of|Invalid option)/i],
      ['/api/apparel/products?limit=100000', /parameter 'limit': must be at most 500/],
      ['/api/apparel/products?offset=-1', /parameter 'offset': must be at least 0/],
      ['/api/apparel/top?by=customer_id', /parameter 'by'/],
      ['/api/apparel/top?n=abc', /parameter 'n': /],
      ['/api/apparel/top?from=2022-1', /parameter 'from': expected a month as YYYY-MM/],
      ['/api/apparel/heatmap?from=2022-05&to=2022-01', /from \(2022-05\) is after to \(2022-01\)/],
      ['/api/stream?from=2026-13-01', /parameter 'from'/],
      ['/api/apparel/monthly?format=xml', /parameter 'format'/],
      ['/api/superstore/kpis?year=20x6', /parameter 'year'/],
      ['/api/superstore/breakdown?dimension=customer_name', /parameter 'dimension'/],
      ['/api/superstore/rfm/movement?from=2017-12-31', /parameter 'to'/],
      ['/api/superstore/rfm/movement?from=2017-02-30&to=2017-12-31', /parameter 'from': not a calendar date/],
      ['/api/runs?status=exploded', /parameter 'status'/],
      ['/api/runs?from=yesterday', /parameter 'from': expected a date as YYYY-MM-DD/],
      ['/api/runs/abc%20def/steps', /path parameter 'runId'/],
      ['/api/runs/x/rejected?limit=0', /parameter 'limit': must be at least 1/],
    ];
    for (const [path, message] of cases) {
      const res = await get(path);
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.match(String(res.body.error), message, path);
    }
    assert.equal((await get('/api/nothing')).status, 404);
    assert.equal((await get('/../package.json')).status, 404);
  });

  test('the API reads the marts, and CSV carries the same rows', async () => {
    const json = await get('/api/apparel/monthly?from=2022-01&to=2022-01');
    assert.equal(json.status, 200);
    assert.deepEqual(json.body.rows, [{ month: '2022-01', year: 2022, month_of_year: 1, total_revenue: 100.5, total_orders: 2, total_quantity: 3, average_order_value: 50.25 }]);
    const csv = await get('/api/apparel/monthly?format=csv');
    assert.match(csv.type, /text\/csv/);
    assert.equal(csv.body, 'month,year,month_of_year,total_revenue,total_orders,total_quantity,average_order_value\n2022-01,2022,1,100.5,2,3,50.25\n2022-02,2022,2,10,1,1,10\n');
  });

  test('the read-only role reads marts and run history, nothing else, and writes nothing', async () => {
    const { rows } = await ro.query(`SELECT current_user AS who, current_setting('default_transaction_read_only') AS ro`);
    assert.deepEqual(rows[0], { who: 'gudang_dashboard', ro: 'on' });
    for (const table of ['mart.dm_revenue_by_months', 'mart.created_later', 'ops.pipeline_runs', 'ops.step_runs', 'ops.partitions', 'ops.rejected_rows', 'ops.streams', 'ops.stream_batches']) {
      await ro.query(`SELECT * FROM ${table} LIMIT 1`);
    }
    for (const table of ['staging.secret_orders', 'warehouse.secret_fact', 'public.secret', 'ops.load_plans', 'ops.load_chunks', 'ops.schema_migrations']) {
      await assert.rejects(ro.query(`SELECT * FROM ${table} LIMIT 1`), /permission denied/, table);
    }
    await assert.rejects(ro.query(`DELETE FROM mart.dm_revenue_by_months`), /read-only transaction|permission denied/);
  });

  test('Superstore endpoints say "not loaded" until its marts exist; runs are empty', async () => {
    for (const path of ['/api/superstore/meta', '/api/superstore/kpis', '/api/superstore/rfm/customers?q=a']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.deepEqual(res.body, { loaded: false, rows: [] }, path);
    }
    const runs = await get('/api/runs');
    assert.deepEqual(runs.body, { total: 0, limit: 20, offset: 0, rows: [] });
    assert.deepEqual((await get('/api/stream')).body, { available: false, streams: [], rows: [] });
    assert.equal(typeof (await get('/api/changes')).body.token, 'string');
  });
});
