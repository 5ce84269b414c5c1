import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { generateDataset } from '../../dataset/generate';
import { seedShopDatabase } from '../../dataset/to-db';
import { startPipeline } from '../../src/client';
import type { LoadResult, PipelineSummary } from '../../src/contracts';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { loadChunk } from '../../src/ingest/chunk';
import { planDbLoad } from '../../src/ingest/db/read';
import { publishLoad } from '../../src/ingest/publish';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';
import { createMariadbDatabase } from '../helpers/mariadb';
import type { TestMariadb } from '../helpers/mariadb';
import { dumpTables, startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';
import type { SourceSpec } from '../../src/sources/types';

// Database sources (issue 13, batch): orders and order_details read from the shop's PostgreSQL or MariaDB, the
// other five sources from their files, give the same warehouse and marts as the all-files run on the same data.
// The MariaDB shop has a real password, which only the worker's environment knows: it must appear nowhere in the
// workflow histories or the ops tables.

const LINES = 6_000;
const SECRET = 'Sh0p-s3cret-pw';
const orderDetails = djangoApparel.sources.find((s) => s.name === 'order_details')!;
const orders = djangoApparel.sources.find((s) => s.name === 'orders')!;

let h: PipelineHarness;
let worker: Worker;
let workerDone: Promise<void>;
let dir: string;
let pgShop: TestDatabase;
let maria: TestMariadb;
let mariaUrl: string;
let filesDump: Record<string, string[]>;
let filesStaging: Record<string, string[]>;
const histories: string[] = [];

/** Every table, numbers compared by value. */
const normalised = (d: Record<string, string[]>) => Object.fromEntries(Object.entries(d).map(([t, rows]) => [t, rows.map((r) => JSON.stringify(JSON.parse(r))).sort()]));

/** The warehouse and mart tables only (staging holds only a period's rows after a period read). */
const warehouseAndMarts = (d: Record<string, string[]>) =>
  // numbers compared by value: a numeric(14,2) column of the shop database gives 795000.00 where the file says 795000
  Object.fromEntries(Object.entries(d).flatMap(([t, rows]) => (t.startsWith('staging.') ? [] : [[t, rows.map((r) => JSON.stringify(JSON.parse(r))).sort()]])));

async function run(input: { runKey: string; sourceDb?: string; period?: string; rejectBudget?: string }): Promise<PipelineSummary> {
  const started = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: dir, ...input });
  const summary = (await started.handle.result()) as PipelineSummary;
  histories.push(JSON.stringify(await started.handle.fetchHistory()));
  return summary;
}

before(async () => {
  h = await startHarness();
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-srcdb-'));
  await generateDataset({ orderLines: LINES, out: dir, seed: 23, months: 6 });
  [pgShop, maria] = await Promise.all([createTestDatabase('gudang_shop'), createMariadbDatabase('gudang_shop')]);
  await seedShopDatabase(pgShop.url, dir);
  await seedShopDatabase(maria.url, dir);
  const user = `gshop_${maria.name.slice(-8)}`;
  await maria.createUser(user, SECRET);
  const u = new URL(maria.url);
  u.username = user;
  u.password = SECRET;
  mariaUrl = u.toString();
  // the worker's environment is where the password lives
  process.env.GUDANG_SOURCE_DB_URL = mariaUrl;
  worker = await h.newWorker();
  workerDone = worker.run();
});

after(async () => {
  delete process.env.GUDANG_SOURCE_DB_URL;
  worker?.shutdown();
  await workerDone;
  await h?.close();
  await pgShop?.drop();
  await maria?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

void describe('database sources', () => {
  void test('all files: the reference warehouse', async () => {
    const s = await run({ runKey: 'files' });
    assert.equal(s.rows['warehouse.fct_transactions'], LINES);
    const all = await dumpTables(h.db.pool);
    filesDump = warehouseAndMarts(all);
    filesStaging = normalised(all);
    // the comparison below is not vacuous: every mart and the fact have rows
    assert.equal(filesDump['warehouse.fct_transactions']!.length, LINES);
    for (const t of ['mart.dm_revenue_by_months', 'mart.dm_perfomance_product_by_cities']) assert.ok(filesDump[t]!.length > 0, `${t} has rows`);
  });

  for (const kind of ['postgres', 'mariadb'] as const) {
    void test(`${kind}: orders and order_details from the shop database, five sources from files, same warehouse and marts`, async () => {
      const url = kind === 'postgres' ? pgShop.url : mariaUrl;
      // every table of staging, the warehouse and the marts emptied: what the run leaves is all its own
      const { rows: tables } = await h.db.pool.query<{ t: string }>(
        `SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables WHERE table_schema IN ('staging', 'warehouse', 'mart') AND table_type = 'BASE TABLE'`,
      );
      await h.db.pool.query(`TRUNCATE ${tables.map((r) => r.t).join(', ')}`);
      const s = await run({ runKey: `db-${kind}`, sourceDb: url });
      const byName = Object.fromEntries(s.loads.map((l) => [l.source, l]));
      assert.equal(byName.order_details!.rowsLoaded, LINES);
      assert.match(byName.orders!.file, new RegExp(`^${kind}://[^:@/]+@127\\.0\\.0\\.1:\\d+/[a-z0-9_]+ table orders$`));
      assert.match(byName.customers!.file, /customers\.parquet$/);
      const all = await dumpTables(h.db.pool);
      assert.deepEqual(warehouseAndMarts(all), filesDump);
      // and staging, row for row: the shop tables were read exactly as the files hold them
      assert.deepEqual(normalised(all), filesStaging);
      const ledger = await h.db.pool.query(`SELECT source, file FROM ops.loads WHERE file LIKE $1 ORDER BY source`, [`${kind}://%`]);
      assert.deepEqual(ledger.rows.map((r) => r.source), ['order_details', 'orders']);
    });
  }

  void test('a period run reads only that month from the database and repairs staging drift in it, saying what it repaired', async () => {
    // drift: a March line lost, a March order changed, a line of another month changed (must be left alone)
    const march = await h.db.pool.query(
      `SELECT d.order_detail_id AS line, o.order_id AS ord FROM staging.order_details d JOIN staging.orders o USING (order_id)
        WHERE to_char(o.order_date, 'YYYY-MM') = '2022-03' ORDER BY 1 LIMIT 1`,
    );
    const { line, ord } = march.rows[0];
    await h.db.pool.query(`DELETE FROM staging.order_details WHERE order_detail_id = $1`, [line]);
    await h.db.pool.query(`UPDATE staging.orders SET customer_id = customer_id + 1 WHERE order_id = $1`, [ord]);
    const s = await run({ runKey: 'db-2022-03', sourceDb: pgShop.url, period: '2022-03' });
    const csv = (await readFile(path.join(dir, 'orders.csv'), 'utf8')).split('\n').slice(1).filter((l) => l.split(',')[1]?.startsWith('2022-03'));
    const orders = s.loads.find((l) => l.source === 'orders')!;
    assert.equal(orders.rowsRead, csv.length, 'only the March orders were read');
    assert.deepEqual(orders.repaired, { inserted: 0, updated: 1, deleted: 0 });
    assert.deepEqual(s.loads.find((l) => l.source === 'order_details')!.repaired, { inserted: 1, updated: 0, deleted: 0 });
    const staged = await h.db.pool.query(`SELECT count(*)::int AS n FROM staging.order_details`);
    assert.equal(staged.rows[0].n, LINES, 'staging keeps every month');
    assert.deepEqual(warehouseAndMarts(await dumpTables(h.db.pool)), filesDump, 'after the repair the warehouse equals the all-files run');
  });

  void test('a bad row in the shop table is rejected with its key, within the reject budget', async () => {
    const [{ id }] = (await maria.admin(`SELECT min(order_detail_id) + 16 AS id FROM \`${maria.name}\`.order_details`)) as { id: bigint }[];
    await maria.admin(`UPDATE \`${maria.name}\`.order_details SET unit_sales = unit_sales + 1 WHERE order_detail_id = ?`, [id]);
    const s = await run({ runKey: 'db-reject', sourceDb: mariaUrl, rejectBudget: '1' });
    const od = s.loads.find((l) => l.source === 'order_details')!;
    assert.deepEqual([od.rowsRead, od.rowsLoaded, od.rowsRejected], [LINES, LINES - 1, 1]);
    const rej = await h.db.pool.query(`SELECT file, raw->>'order_detail_id' AS id, errors FROM ops.rejected_rows WHERE source = 'order_details' AND file LIKE 'mariadb://%'`);
    assert.equal(rej.rows[0].id, String(id));
    assert.match(rej.rows[0].errors[0], /unit_sales/);
  });

  void test('a chunk of a database read resumes after its last committed batch', async () => {
    const runId = 'db-resume';
    const plan = await planDbLoad(h.db.pool, orderDetails, { runId, dataset: 'django-apparel', sourceDb: pgShop.url, chunkRows: 2_000, batchRows: 500 });
    assert.equal(plan.chunks.length, 3);
    await assert.rejects(loadChunk(h.db.pool, orderDetails, runId, 0, { failAfterBatches: 2 }), /fault injected/);
    const cp = await h.db.pool.query(`SELECT byte_start::int AS s, byte_done::int AS d, rows_read::int AS r FROM ops.load_chunks WHERE run_id = $1 AND chunk = 0`, [runId]);
    assert.equal(cp.rows[0].d, cp.rows[0].s + 2 * plan.dbRead!.batchKeys);
    assert.ok(cp.rows[0].r > 0);
    const resumed = await loadChunk(h.db.pool, orderDetails, runId, 0);
    assert.equal(resumed.resumedFromByte, cp.rows[0].d);
    for (const c of [1, 2]) await loadChunk(h.db.pool, orderDetails, runId, c);
    const out = await publishLoad(h.db.pool, orderDetails, runId);
    assert.equal(out.status, 'published');
    const staged = await h.db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT order_detail_id)::int AS ids FROM staging.order_details`);
    assert.deepEqual(staged.rows[0], { n: LINES, ids: LINES });
  });

  void test('a watermark column makes repeated reads incremental: nothing new reads nothing, inserts read only the new rows', async () => {
    // Django Apparel declares no watermark (its full reads mirror the source, updates and deletes included): the
    // registry field is set here on copies of its specs, the way a dataset with append-only tables declares it.
    const withWatermark = (spec: SourceSpec, column: string): SourceSpec => ({ ...spec, database: { ...spec.database!, watermarkColumn: column } });
    const load = async (spec: SourceSpec, runId: string, sourceDb: string): Promise<LoadResult> => {
      const plan = await planDbLoad(h.db.pool, spec, { runId, dataset: 'django-apparel', sourceDb, chunkRows: 2_500, batchRows: 700 });
      for (const c of plan.chunks) await loadChunk(h.db.pool, spec, runId, c.chunk);
      const out = await publishLoad(h.db.pool, spec, runId);
      assert.equal(out.status, 'published');
      return (out as { result: LoadResult }).result;
    };
    const count = async (table: string) => (await h.db.pool.query(`SELECT count(*)::int AS n FROM staging.${table}`)).rows[0].n as number;
    const mark = async (source: string) =>
      (await h.db.pool.query(`SELECT source_db, source_table, watermark_column, watermark, previous, rows_read::int FROM ops.source_watermarks WHERE dataset = 'django-apparel' AND source = $1`, [source])).rows[0];

    // PostgreSQL, order_details by its key (an append-only table)
    const od = withWatermark(orderDetails, 'order_detail_id');
    const full = await load(od, 'wm-pg-1', pgShop.url);
    const { rows: [{ max }] } = await pgShop.pool.query(`SELECT max(order_detail_id)::text AS max FROM order_details`);
    assert.equal(full.rowsRead, LINES);
    assert.deepEqual(full.watermark, { column: 'order_detail_id', upTo: max });
    assert.deepEqual(await mark('order_details'), { source_db: full.file.replace(/ table order_details$/, ''), source_table: 'order_details', watermark_column: 'order_detail_id', watermark: max, previous: null, rows_read: LINES });
    const again = await load(od, 'wm-pg-2', pgShop.url);
    assert.equal(again.rowsRead, 0, 'a second read with no new rows reads nothing');
    assert.deepEqual(again.watermark, { column: 'order_detail_id', above: max, upTo: max, inserted: 0, updated: 0 });
    assert.equal(await count('order_details'), LINES, 'and staging keeps every row');
    await pgShop.pool.query(`INSERT INTO order_details SELECT order_detail_id + 100000, order_id, product_id, qty, item_price, unit_sales FROM order_details ORDER BY order_detail_id DESC LIMIT 3`);
    const top = String(Number(max) + 100000);
    const more = await load(od, 'wm-pg-3', pgShop.url);
    assert.deepEqual([more.rowsRead, more.rowsLoaded], [3, 3], 'only the new rows are read');
    assert.deepEqual(more.watermark, { column: 'order_detail_id', above: max, upTo: top, inserted: 3, updated: 0 });
    assert.equal(await count('order_details'), LINES + 3);
    assert.deepEqual([(await mark('order_details')).watermark, (await mark('order_details')).previous, (await mark('order_details')).rows_read], [top, max, 3]);
    const plan = await h.db.pool.query(`SELECT db_read->'watermark' AS w FROM ops.load_plans WHERE run_id = 'wm-pg-3' AND source = 'order_details'`);
    assert.deepEqual(plan.rows[0].w, { column: 'order_detail_id', above: max, upTo: top }, 'the plan in ops records what the read took');
    // a load that replaces staging another way (here a read without the watermark) forgets it: the next read is full
    await load(orderDetails, 'wm-pg-4', pgShop.url);
    assert.equal(await mark('order_details'), undefined);
    assert.equal((await load(od, 'wm-pg-5', pgShop.url)).rowsRead, LINES + 3);
    await pgShop.pool.query(`DELETE FROM order_details WHERE order_detail_id > $1`, [max]);

    // MariaDB, orders by a timestamp (datetime(3)): the watermark keeps the source's own spelling and precision
    const ord = withWatermark(orders, 'order_date');
    const first = await load(ord, 'wm-maria-1', mariaUrl);
    const ordersInShop = await count('orders');
    assert.equal(first.rowsRead, ordersInShop);
    assert.match(first.watermark!.upTo!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/);
    assert.equal((await load(ord, 'wm-maria-2', mariaUrl)).rowsRead, 0);
    await maria.admin(
      `INSERT INTO \`${maria.name}\`.orders SELECT order_id + 1000000, order_date + INTERVAL 1 DAY, customer_id, province_id, city_id
         FROM \`${maria.name}\`.orders ORDER BY order_id DESC LIMIT 2`,
    );
    const newer = await load(ord, 'wm-maria-3', mariaUrl);
    assert.deepEqual([newer.rowsRead, newer.watermark!.inserted, newer.watermark!.above], [2, 2, first.watermark!.upTo]);
    assert.ok(newer.watermark!.upTo! > first.watermark!.upTo!);
    assert.equal(await count('orders'), ordersInShop + 2);
    assert.equal((await load(ord, 'wm-maria-4', mariaUrl)).rowsRead, 0);
  });

  void test('the password of the shop database is nowhere in workflow history or the ops tables', async () => {
    assert.ok(histories.length >= 4);
    for (const hist of histories) assert.ok(!hist.includes(SECRET), 'no password in a workflow history');
    const { rows } = await h.db.pool.query<{ t: string }>(`SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables WHERE table_schema = 'ops' AND table_type = 'BASE TABLE'`);
    for (const { t } of rows) {
      const found = await h.db.pool.query(`SELECT count(*)::int AS n FROM ${t} x WHERE row_to_json(x)::text LIKE $1`, [`%${SECRET}%`]);
      assert.equal(found.rows[0].n, 0, `no password in ${t}`);
    }
  });
});
