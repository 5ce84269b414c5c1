import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { stagingDDL } from '../../src/ingest/staging';
import { migrate } from '../../src/warehouse/migrate';
import { parseModelTests, runModel } from '../../src/warehouse/models';
import { PARTITION_STATISTICS_TARGET } from '../../src/warehouse/partition';
import { publishRun } from '../../src/warehouse/publish';
import { runLayerGates } from '../../src/warehouse/gates';
import { buildAll, expectGateFailure, given, insertGiven, layer, layers } from './warehouse-fixture';

// Warehouse models end to end, dbt unit-test style: a small hand-written staging dataset ("given", in
// warehouse-fixture.ts, shared with gates.test.ts), every
// model of every layer, the quality gates, and the exact rows of both marts ("expected").
// Needs a PostgreSQL server (test/helpers/db.ts: TEST_DATABASE_URL, else the local trust-auth default).

let db: TestDatabase;
let pool: pg.Pool;

// ------------------------------------------------------------------ expected
// month, total_revenue, total_orders, total_quantity, average_order_value
const expectedRevenueByMonths = [
  ['2022-01-01', '610', '3', '5', '203.33'],
  ['2022-02-01', '250', '1', '4', '250.00'],
  ['2023-01-01', '400', '1', '2', '400.00'],
  ['2023-02-01', '409.99', '2', '3', '205.00'],
];
// city_id, city_name, province_name, product_id, product_name, size, product_category_name, total_quantity, total_sales, total_orders
const expectedProductByCities = [
  ['100', 'Bandung', 'Jawa Barat', '1', 'Hoodie Black', 'M', 'Hoodies', '4', '400', '3'],
  ['100', 'Bandung', 'Jawa Barat', '2', 'Hoodie Black', 'L', 'Hoodies', '1', '110', '1'],
  ['100', 'Bandung', 'Jawa Barat', '3', 'Jeans Blue', '32', 'Jeans', '2', '399.99', '2'],
  ['100', 'Bandung', 'Jawa Barat', null, 'Unknown', 'Unknown', 'Unknown', '3', '150', '1'],
  ['101', 'Bogor', 'Jawa Barat', '2', 'Hoodie Black', 'L', 'Hoodies', '1', '110', '1'],
  ['200', 'Denpasar', 'Bali', '3', 'Jeans Blue', '32', 'Jeans', '2', '400', '1'],
  [null, 'Unknown', 'Unknown', '1', 'Hoodie Black', 'M', 'Hoodies', '1', '100', '1'],
];

// ------------------------------------------------------------------ helpers
async function rowsAsText(sql: string): Promise<(string | null)[][]> {
  const { rows } = await pool.query({ text: sql, rowMode: 'array' });
  return (rows as unknown[][]).map((r) => r.map((v) => (v === null ? null : String(v))));
}

/** Every row of every warehouse and mart table, as JSON text, in a stable order. */
async function dumpWarehouse(): Promise<Record<string, string[]>> {
  const { rows: tables } = await pool.query<{ t: string }>(
    // partitions (the fact's months) are read through their parent
    `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables
      WHERE table_schema IN ('warehouse', 'mart')
        AND NOT coalesce((SELECT relispartition FROM pg_class WHERE oid = to_regclass(table_schema || '.' || table_name)), false)
      ORDER BY 1`,
  );
  const dump: Record<string, string[]> = {};
  for (const { t } of tables) {
    const { rows } = await pool.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM ${t} AS x ORDER BY 1`);
    dump[t] = rows.map((r) => r.r);
  }
  return dump;
}

// ------------------------------------------------------------------ tests
void describe('warehouse models and quality gates', () => {
  before(async () => {
    db = await createTestDatabase('gudang_warehouse');
    pool = db.pool;
  });

  after(async () => {
    await db?.drop();
  });

  void test('migrations apply once, concurrently and idempotently', async () => {
    const [a, b] = await Promise.all([migrate(pool), migrate(pool)]);
    const applied = [...a, ...b];
    assert.ok(applied.includes('001_schemas.sql'));
    assert.equal(new Set(applied).size, applied.length, 'each migration applied by exactly one caller');
    assert.deepEqual(await migrate(pool), []);
    const { rows } = await pool.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('staging', 'warehouse', 'mart', 'ops') ORDER BY 1`);
    assert.deepEqual(rows.map((r) => r.nspname), ['mart', 'ops', 'staging', 'warehouse']);
    const ledger = await pool.query(`SELECT name, length(checksum) AS len FROM ops.schema_migrations ORDER BY name`);
    assert.deepEqual(ledger.rows[0], { name: '001_schemas.sql', len: 64 });
    // the loader's upsert target
    await pool.query(`INSERT INTO ops.loads (run_id, workflow_id, dataset, source, file, sha256, rows_read, rows_loaded, started_at, finished_at)
                      VALUES ('r1', 'w1', 'django-apparel', 'orders', 'orders.csv', 'abc', 7, 7, now(), now())
                      ON CONFLICT (run_id, source) DO UPDATE SET rows_loaded = EXCLUDED.rows_loaded`);
    const loads = await pool.query(`SELECT rows_rejected::int FROM ops.loads`);
    assert.deepEqual(loads.rows, [{ rows_rejected: 0 }]);
    await pool.query(`DELETE FROM ops.loads`);
  });

  void test('an applied migration that changed is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gudang-migrations-'));
    try {
      await mkdir(join(dir, 'migrations'));
      await writeFile(join(dir, 'migrations', '900_probe.sql'), 'CREATE TABLE IF NOT EXISTS ops.probe (id int);\n');
      assert.deepEqual(await migrate(pool, dir), ['900_probe.sql']);
      assert.deepEqual(await migrate(pool, dir), []);
      await writeFile(join(dir, 'migrations', '900_probe.sql'), 'CREATE TABLE IF NOT EXISTS ops.probe (id bigint);\n');
      await assert.rejects(migrate(pool, dir), /900_probe\.sql changed after being applied/);
      // a failing migration rolls back and is not recorded
      await writeFile(join(dir, 'migrations', '900_probe.sql'), 'CREATE TABLE IF NOT EXISTS ops.probe (id int);\n');
      await writeFile(join(dir, 'migrations', '901_broken.sql'), 'CREATE TABLE ops.half (id int);\nSELECT nope FROM nowhere;\n');
      await assert.rejects(migrate(pool, dir), /migration 901_broken\.sql failed/);
      const half = await pool.query(`SELECT to_regclass('ops.half') AS t`);
      assert.equal(half.rows[0].t, null);
    } finally {
      await pool.query(`DROP TABLE IF EXISTS ops.probe; DELETE FROM ops.schema_migrations WHERE name LIKE '9%'`);
      await rm(dir, { recursive: true, force: true });
    }
  });

  void test('annotation parser', () => {
    const checks = parseModelTests(
      [
        '-- test: unique(customer_key)',
        '--test: not_null(customer_id, full_name) where customer_key <> -1',
        '-- test: relationship(customer_key -> warehouse.dim_customers.customer_key)',
        '-- test: unknown_member(customer_key = -1)',
        'SELECT 1; -- test: not at line start is ignored',
      ].join('\n'),
      'warehouse.some_table',
    );
    assert.deepEqual(
      checks.map((c) => c.check),
      [
        'unique(customer_key)',
        'not_null(customer_id, full_name) where customer_key <> -1',
        'relationship(customer_key -> warehouse.dim_customers.customer_key)',
        'unknown_member(customer_key = -1)',
      ],
    );
    assert.deepEqual(checks[2]!.references, { table: 'warehouse.dim_customers', column: 'customer_key' });
    for (const badLine of [
      '-- test: unique(customer_key; drop table x)',
      '-- test: not_null(a) where a <> 1 or true',
      '-- test: relationship(a -> dim_customers)',
      '-- test: frobnicate(a)',
      '-- test: unique()',
      '-- test: not_null("A")',
    ]) {
      assert.throws(() => parseModelTests(badLine, 'warehouse.t'), (err: unknown) => err instanceof InputError && err.type === 'ConfigError', badLine);
    }
    assert.throws(() => parseModelTests('', 'warehouse.t; drop'), InputError);
  });

  void test('every model builds from the given staging data and every gate passes', async () => {
    for (const spec of djangoApparel.sources) await pool.query(stagingDDL(spec));
    for (const [source, rows] of Object.entries(given)) await insertGiven(pool, source, rows);

    const counts = await buildAll(pool);
    assert.equal(counts.get('warehouse.dim_date'), 365 + 365 + 1, 'whole years 2022 and 2023, plus the unknown member');
    assert.equal(counts.get('warehouse.dim_customers'), 4);
    assert.equal(counts.get('warehouse.dim_products'), 4);
    assert.equal(counts.get('warehouse.dim_locations'), 4);
    assert.equal(counts.get('warehouse.fct_transactions'), 10);
    assert.equal(counts.get('mart.dm_revenue_by_months'), 4);
    assert.equal(counts.get('mart.dm_perfomance_product_by_cities'), 7);
  });

  void test('dimensions carry the unknown member and the expected attributes', async () => {
    assert.deepEqual(
      await rowsAsText(`SELECT customer_key, customer_id, full_name, gender FROM warehouse.dim_customers WHERE customer_key = -1`),
      [['-1', null, 'Unknown', 'Unknown']],
    );
    assert.deepEqual(
      await rowsAsText(`SELECT product_id, product_name, size, product_category_id, product_category_name FROM warehouse.dim_products ORDER BY product_id NULLS FIRST`),
      [
        [null, 'Unknown', 'Unknown', null, 'Unknown'],
        ['1', 'Hoodie Black', 'M', '1', 'Hoodies'],
        ['2', 'Hoodie Black', 'L', '1', 'Hoodies'],
        ['3', 'Jeans Blue', '32', '2', 'Jeans'],
      ],
    );
    assert.deepEqual(
      await rowsAsText(`SELECT city_id, city_name, province_id, province_name FROM warehouse.dim_locations ORDER BY city_id NULLS FIRST`),
      [
        [null, 'Unknown', null, 'Unknown'],
        ['100', 'Bandung', '10', 'Jawa Barat'],
        ['101', 'Bogor', '10', 'Jawa Barat'],
        ['200', 'Denpasar', '20', 'Bali'],
      ],
    );
    assert.deepEqual(
      await rowsAsText(`SELECT date_key, full_date::text, year, quarter, month, month_name, day, day_of_week, day_name, is_weekend, year_month, month_start::text
                          FROM warehouse.dim_date WHERE date_key IN (-1, 20220101, 20230228) ORDER BY date_key`),
      [
        ['-1', null, null, null, null, 'Unknown', null, null, 'Unknown', 'false', null, null],
        ['20220101', '2022-01-01', '2022', '1', '1', 'January', '1', '6', 'Saturday', 'true', '2022-01', '2022-01-01'],
        ['20230228', '2023-02-28', '2023', '1', '2', 'February', '28', '2', 'Tuesday', 'false', '2023-02', '2023-02-01'],
      ],
    );
  });

  void test('the fact resolves missing references to the unknown members', async () => {
    assert.deepEqual(
      await rowsAsText(`SELECT f.order_detail_id, f.order_id, f.date_key, c.customer_id, p.product_id, l.city_id, f.qty, f.unit_sales
                          FROM warehouse.fct_transactions f
                          JOIN warehouse.dim_customers c USING (customer_key)
                          JOIN warehouse.dim_products p USING (product_key)
                          JOIN warehouse.dim_locations l USING (location_key)
                         WHERE f.customer_key = -1 OR f.product_key = -1 OR f.location_key = -1
                         ORDER BY 1`),
      [
        ['1005', '3', '20220214', '1', null, '100', '3', '150'],
        ['1009', '6', '20230201', null, '3', '100', '1', '199.99'],
        ['1010', '7', '20220131', '3', '1', null, '1', '100'],
      ],
    );
  });

  void test('both marts hold exactly the expected rows (year and month grouping)', async () => {
    assert.deepEqual(
      await rowsAsText(`SELECT month::text, total_revenue, total_orders, total_quantity, average_order_value
                          FROM mart.dm_revenue_by_months ORDER BY month`),
      expectedRevenueByMonths,
    );
    assert.deepEqual(
      await rowsAsText(`SELECT city_id, city_name, province_name, product_id, product_name, size, product_category_name,
                               total_quantity, total_sales, total_orders
                          FROM mart.dm_perfomance_product_by_cities ORDER BY city_id NULLS LAST, product_id NULLS LAST`),
      expectedProductByCities,
    );
  });

  void test('a rerun over the same staging leaves every warehouse and mart row identical', async () => {
    const first = await dumpWarehouse();
    assert.deepEqual(Object.keys(first), [
      'mart.dm_perfomance_product_by_cities',
      'mart.dm_perfomance_product_by_cities_monthly',
      'mart.dm_revenue_by_months',
      'warehouse.dim_customers',
      'warehouse.dim_date',
      'warehouse.dim_locations',
      'warehouse.dim_products',
      'warehouse.fct_transactions',
    ]);
    await buildAll(pool);
    assert.deepEqual(await dumpWarehouse(), first);
  });

  void test('concurrent runs of the same model serialise and leave the same contents', async () => {
    const before = await dumpWarehouse();
    const models = layers.flatMap((l) => l.models).filter((m) => ['dim_customers', 'fct_transactions'].includes(m.name));
    await Promise.all(models.flatMap((m) => [runModel(pool, djangoApparel, m, { publish: true }), runModel(pool, djangoApparel, m, { publish: true })]));
    assert.deepEqual(await dumpWarehouse(), before);
  });

  void test('a failing model names its file and rolls back', async () => {
    const model = { name: 'broken', file: 'models/django-apparel/facts/fct_transactions.sql', table: 'warehouse.fct_transactions' };
    await pool.query(`ALTER TABLE staging.order_details RENAME COLUMN unit_sales TO unit_sales_renamed`);
    try {
      await assert.rejects(runModel(pool, djangoApparel, model, { publish: true }), (err: unknown) => {
        assert.ok(err instanceof InputError && err.type === 'ConfigError', String(err));
        assert.match(err.message, /^model broken \(sql\/models\/django-apparel\/facts\/fct_transactions\.sql\) at line \d+ failed: column "unit_sales" does not exist/);
        return true;
      });
    } finally {
      await pool.query(`ALTER TABLE staging.order_details RENAME COLUMN unit_sales_renamed TO unit_sales`);
    }
    assert.deepEqual(await rowsAsText(`SELECT count(*) FROM warehouse.fct_transactions`), [['10']], 'the published table is untouched');
    await assert.rejects(runModel(pool, djangoApparel, { ...model, file: '../package.json' }), /not a \.sql file inside/);
    await assert.rejects(runModel(pool, djangoApparel, { ...model, table: 'warehouse.x; drop table y' }), /not a plain lower-case identifier/);
  });

  void test('surrogate keys survive changed, added and vanished members', async () => {
    const before = new Map((await rowsAsText(`SELECT customer_id, customer_key FROM warehouse.dim_customers`)).map(([id, key]) => [id, key]));
    await pool.query(`UPDATE staging.customers SET last_name = 'Santoso' WHERE customer_id = 2`);
    await pool.query(`DELETE FROM staging.customers WHERE customer_id = 3`);
    await pool.query(`INSERT INTO staging.customers VALUES (4, 'Dewi', 'Putri', 'Female')`);
    await buildAll(pool);
    const after = await rowsAsText(`SELECT customer_id, customer_key, full_name FROM warehouse.dim_customers ORDER BY customer_key`);
    for (const [id, key] of after) if (before.has(id)) assert.equal(key, before.get(id), `customer ${id} kept its key`);
    assert.deepEqual(
      after.map(([id, , name]) => [id, name]),
      [
        [null, 'Unknown'],
        ['1', 'Ani Wijaya'],
        ['2', 'Budi Santoso'],
        ['3', 'Citra Lestari'], // vanished from staging, kept
        ['4', 'Dewi Putri'],
      ],
    );
    // customer 3 is still a member: its order lines (1006, 1010) keep resolving to it, not to the unknown member
    assert.deepEqual(
      await rowsAsText(`SELECT f.order_detail_id, c.customer_id FROM warehouse.fct_transactions f
                          JOIN warehouse.dim_customers c USING (customer_key) WHERE f.order_id IN (4, 6, 7) ORDER BY 1`),
      [['1006', '3'], ['1009', null], ['1010', '3']],
    );
    // restore the given data
    await pool.query(`DELETE FROM staging.customers WHERE customer_id = 4`);
    await pool.query(`UPDATE staging.customers SET last_name = NULL WHERE customer_id = 2`);
    await pool.query(`INSERT INTO staging.customers VALUES (3, 'Citra', 'Lestari', NULL)`);
    await buildAll(pool);
  });

  void test('a one-month run rebuilds only that month of the fact and equals a full refresh', async () => {
    await buildAll(pool);
    const layout = await rowsAsText(`SELECT tableoid::regclass::text FROM warehouse.fct_transactions GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(layout, [
      ['warehouse.fct_transactions_202201'],
      ['warehouse.fct_transactions_202202'],
      ['warehouse.fct_transactions_202301'],
      ['warehouse.fct_transactions_202302'],
    ]);
    // every partition samples PARTITION_STATISTICS_TARGET per column; the table as a whole keeps the default (-1),
    // and ANALYZE gave both statistics
    const targets = await rowsAsText(
      `SELECT DISTINCT c.relispartition::text, a.attstattarget::text FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = 'warehouse'::regnamespace AND c.relname LIKE 'fct_transactions%' ORDER BY 1`,
    );
    assert.deepEqual(targets, [['false', '-1'], ['true', String(PARTITION_STATISTICS_TARGET)]]);
    const stats = await rowsAsText(
      `SELECT inherited::text, count(*)::text FROM pg_stats WHERE schemaname = 'warehouse' AND tablename IN ('fct_transactions', 'fct_transactions_202201') AND attname = 'order_id' GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(stats, [['false', '1'], ['true', '1']]);
    // the physical identity of every row: its partition, its inserting transaction and its place
    const identity = `SELECT order_detail_id, tableoid::regclass::text, xmin::text, ctid::text FROM warehouse.fct_transactions`;
    const before = await rowsAsText(`${identity} ORDER BY 1`);
    // February 2022 changes: a line's quantity, order 2 (January) moves into February, and product 3, sold in
    // other months too, is renamed
    await pool.query(`UPDATE staging.order_details SET qty = 5, unit_sales = 500 WHERE order_detail_id = 1004`);
    await pool.query(`UPDATE staging.orders SET order_date = '2022-02-03 09:00:00' WHERE order_id = 2`);
    await pool.query(`UPDATE staging.products SET product_name = 'Jeans Indigo' WHERE product_id = 3`);
    try {
      const runTag = 'month1';
      for (const l of layers) {
        for (const model of l.models) await runModel(pool, djangoApparel, model, { period: '2022-02', runTag });
        await runLayerGates(pool, djangoApparel, l, { period: '2022-02', runTag });
      }
      const built = await rowsAsText(`SELECT count(*) FROM gudang_build.warehouse__fct_transactions__${runTag}`);
      assert.deepEqual(built, [['3']], 'the build holds February 2022 only (1004, 1005 and the moved 1003)');
      await publishRun(pool, djangoApparel, runTag);

      const after = new Map((await rowsAsText(`${identity} ORDER BY 1`)).map((r) => [r[0], r]));
      for (const row of before) {
        const [id, partition] = row;
        if (partition === 'warehouse.fct_transactions_202202' || id === '1003') continue;
        assert.deepEqual(after.get(id), row, `line ${id} of another month was not rewritten`);
      }
      assert.equal(after.get('1003')?.[1], 'warehouse.fct_transactions_202202', 'the moved line sits in February only');
      assert.equal(after.size, before.length);
      const monthRun = await dumpWarehouse();
      const renamed = await rowsAsText(`SELECT DISTINCT to_char(month, 'YYYY-MM') FROM mart.dm_perfomance_product_by_cities_monthly WHERE product_name = 'Jeans Indigo' ORDER BY 1`);
      assert.deepEqual(renamed, [['2022-01'], ['2023-01'], ['2023-02']], 'months the run kept carry the new name');
      await buildAll(pool);
      assert.deepEqual(monthRun, await dumpWarehouse(), 'a full refresh over the same staging gives the same warehouse');
    } finally {
      await pool.query(`UPDATE staging.order_details SET qty = 1, unit_sales = 100 WHERE order_detail_id = 1004`);
      await pool.query(`UPDATE staging.orders SET order_date = '2022-01-20 08:30:00' WHERE order_id = 2`);
      await pool.query(`UPDATE staging.products SET product_name = 'Jeans Blue' WHERE product_id = 3`);
      await buildAll(pool);
    }
  });

  void test('a one-month run adds its own year to dim_date when it has an order, and keeps every published year', async () => {
    await buildAll(pool);
    const years = () => rowsAsText(`SELECT year::text, count(*)::text FROM warehouse.dim_date WHERE date_key <> -1 GROUP BY 1 ORDER BY 1`);
    const monthRun = async (period: string, runTag: string) => {
      for (const model of layer('dimensions').models) await runModel(pool, djangoApparel, model, { period, runTag });
      await runLayerGates(pool, djangoApparel, layer('dimensions'), { period, runTag });
      await publishRun(pool, djangoApparel, runTag);
    };
    await pool.query(`INSERT INTO staging.orders VALUES (8, '2024-03-05 10:00:00', 1, 10, 100)`);
    try {
      await monthRun('2025-01', 'noorders'); // a month without an order adds no year
      assert.deepEqual(await years(), [['2022', '365'], ['2023', '365']]);
      await monthRun('2024-03', 'leapyear');
      assert.deepEqual(await years(), [['2022', '365'], ['2023', '365'], ['2024', '366']], 'the whole of 2024 came with its March order');
      await pool.query(`DELETE FROM staging.orders WHERE order_id = 8`);
      await monthRun('2023-02', 'keeps');
      assert.deepEqual((await years()).map((r) => r[0]), ['2022', '2023', '2024'], 'a year stays once it has appeared');
    } finally {
      await pool.query(`DELETE FROM staging.orders WHERE order_id = 8`);
      await pool.query(`DELETE FROM warehouse.dim_date WHERE year = 2024`);
      await buildAll(pool);
    }
  });

  void test('a dangling dimension reference fails the facts gate, naming check, table and keys', async () => {
    await pool.query(`DELETE FROM warehouse.dim_products WHERE product_id = 3`);
    const err = await expectGateFailure(
      pool,
      'facts',
      'quality gate failed after layer facts: ',
      "relationship(product_key -> ref('dim_products').product_key) on warehouse.fct_transactions: 3 rows, e.g. order_detail_id=1002, 1006, 1009",
    );
    const checks = (err.details as { checks: { check: string; passed: boolean; failures: number; sample: string[] }[] }).checks;
    const failed = checks.filter((c) => !c.passed);
    assert.deepEqual(failed, [
      {
        check: "relationship(product_key -> ref('dim_products').product_key)",
        table: 'warehouse.fct_transactions',
        passed: false,
        failures: 3,
        sample: ['order_detail_id=1002', 'order_detail_id=1006', 'order_detail_id=1009'],
      },
    ]);
    await buildAll(pool); // product 3 comes back (under a new key) and the fact follows
  });

  void test('a missing fact row fails the reconciliation tests', async () => {
    await pool.query(`DELETE FROM warehouse.fct_transactions WHERE order_detail_id = 1004`);
    await expectGateFailure(
      pool,
      'facts',
      'fct_transactions_reconciles_with_staging on warehouse.fct_transactions: 2 rows, e.g. ',
      'problem=totals differ, staging=rows=10 sales=1669.99, fact=rows=9 sales=1569.99',
      'order_detail_id=1004, problem=missing from fact',
    );
    // the marts were built before the damage: they no longer reconcile with the fact
    await expectGateFailure(pool, 'marts', 'dm_revenue_by_months_reconciles_with_fact on mart.dm_revenue_by_months', 'month=2022-02');
    // a changed value with every count unchanged is found too (the fingerprint compares every line's values)
    await buildAll(pool);
    await pool.query(`UPDATE warehouse.fct_transactions SET qty = 3, item_price = 50 WHERE order_detail_id = 1001`);
    await expectGateFailure(
      pool,
      'facts',
      'fct_transactions_reconciles_with_staging on warehouse.fct_transactions: 1 row, e.g. ',
      'order_detail_id=1001, problem=values differ, staging=order_id=1 qty=2 item_price=100 unit_sales=200, fact=order_id=1 qty=3 item_price=50 unit_sales=200',
    );
  });

  void test('duplicates and missing unknown members fail the dimensions gate', async () => {
    await buildAll(pool);
    await pool.query(`ALTER TABLE warehouse.dim_locations DROP CONSTRAINT dim_locations_city_id_key`);
    await pool.query(`INSERT INTO warehouse.dim_locations (location_key, city_id, city_name, province_id, province_name) VALUES (99, 101, 'Bogor again', 10, 'Jawa Barat')`);
    await pool.query(`DELETE FROM warehouse.dim_customers WHERE customer_key = -1`);
    await expectGateFailure(
      pool,
      'dimensions',
      'unique(city_id) on warehouse.dim_locations: 2 rows, e.g. city_id=101',
      'unknown_member(customer_key = -1) on warehouse.dim_customers: 1 row, e.g. customer_key=-1 is missing',
    );
  });
});
