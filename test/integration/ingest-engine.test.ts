import assert from 'node:assert/strict';
import { closeSync, openSync, utimesSync, writeSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateDataset } from '../../dataset/generate';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { loadChunk } from '../../src/ingest/chunk';
import { loadSource } from '../../src/ingest/load';
import { planLoad } from '../../src/ingest/plan';
import { publishLoad } from '../../src/ingest/publish';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import { SUPERSTORE_SAMPLE, superstoreRawSource } from '../helpers/superstore-raw';
import type { TestDatabase } from '../helpers/db';

// The ingest engine in-process (no Temporal): chunks, parallelism, exact row numbers, duplicates, resume.

const LINES = 200_000;
const CHUNK = 512 * 1024; // ~13 chunks for the ~6 MB file

const orderDetails = djangoApparel.sources.find((s) => s.name === 'order_details')!;

let db: TestDatabase;
let dir: string;
let lines: string[]; // data lines of the generated order_details.csv (no header)
let header: string;

before(async () => {
  db = await createTestDatabase('gudang_ingest');
  await migrate(db.pool);
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-ingest-'));
  await generateDataset({ orderLines: LINES, out: path.join(dir, 'gen'), seed: 7, formats: ['csv'] });
  const text = await readFile(path.join(dir, 'gen', 'order_details.csv'), 'utf8');
  const all = text.split('\n');
  header = all[0]!;
  lines = all.slice(1).filter((l) => l !== '');
  assert.equal(lines.length, LINES);
});

after(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A directory holding order_details.csv with the given data lines. */
async function sourceDir(name: string, data: string[], eol = '\n'): Promise<string> {
  const d = path.join(dir, name);
  await mkdir(d, { recursive: true });
  await writeFile(path.join(d, 'order_details.csv'), `${header}${eol}${data.join(eol)}${eol}`);
  return d;
}

async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.pool.query(sql, params);
  return rows[0] as T;
}

async function landingTables(): Promise<string[]> {
  const { rows } = await db.pool.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'landing' ORDER BY 1`);
  return rows.map((r) => r.t);
}

void describe('loadSource: the pipeline load (runLoad) in-process', () => {
  void test('a large CSV in parallel chunks: every row once, counts exact, ledger complete, nothing left behind', async () => {
    const d = await sourceDir('clean', lines);
    const r = await loadSource(db.pool, orderDetails, d, { runId: 'clean', chunkBytes: CHUNK, concurrency: 3, batchBytes: 256 * 1024 });
    assert.ok(r.chunks! > 5, `several chunks, got ${r.chunks}`);
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [LINES, LINES, 0]);
    const expectedSales = lines.reduce((s, l) => s + Number(l.split(',')[5]), 0);
    const got = await one<{ n: number; ids: number; sales: string }>(
      `SELECT count(*)::int AS n, count(DISTINCT order_detail_id)::int AS ids, sum(unit_sales)::text AS sales FROM staging.order_details`,
    );
    assert.deepEqual(got, { n: LINES, ids: LINES, sales: String(expectedSales) });
    const ledger = await one<{ chunks: number; done: number; read: number }>(
      `SELECT count(*)::int AS chunks, count(*) FILTER (WHERE status = 'done')::int AS done, sum(rows_read)::int AS read
         FROM ops.load_chunks WHERE run_id = 'clean' AND source = 'order_details'`,
    );
    assert.deepEqual(ledger, { chunks: r.chunks, done: r.chunks, read: LINES });
    const load = await one<{ rows_read: number; rows_loaded: number; rows_rejected: number }>(
      `SELECT rows_read::int, rows_loaded::int, rows_rejected::int FROM ops.loads WHERE run_id = 'clean' AND source = 'order_details'`,
    );
    assert.deepEqual(load, { rows_read: LINES, rows_loaded: LINES, rows_rejected: 0 });
    assert.deepEqual(await landingTables(), []);
    const pk = await one<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'staging.order_details'::regclass AND contype = 'p'`);
    assert.equal(pk.def, 'PRIMARY KEY (order_detail_id)');
  });

  void test('rejects anywhere in the file get their exact file row number; duplicate keys name the first row', async () => {
    const data = [...lines];
    const bad = [7, 50_001, 123_457, LINES]; // file row numbers (1 = first data row)
    for (const row of bad) {
      const cells = data[row - 1]!.split(',');
      cells[3] = 'x';
      data[row - 1] = cells.join(',');
    }
    // a second copy of row 3's key at the end, and of row 100000's key in the middle (as row 150001)
    const dupOf3 = data[2]!.replace(/^(\d+),\d+/, '$1,99');
    const dupOf100k = data[99_999]!;
    data.splice(150_000, 0, dupOf100k);
    data.push(dupOf3);
    const d = await sourceDir('rejects', data);
    const r = await loadSource(db.pool, orderDetails, d, { runId: 'rejects', chunkBytes: CHUNK, concurrency: 2, rejectBudget: '10' });
    assert.equal(r.rowsRead, LINES + 2);
    assert.equal(r.rowsRejected, 6);
    assert.equal(r.rowsLoaded, LINES - 4);
    assert.equal(r.reloads, 1, 'duplicates send the load round once more with row numbers');
    const rejected = await db.pool.query<{ row_number: number; line_number: number; errors: string[]; raw: Record<string, string> }>(
      `SELECT row_number::int, line_number::int, errors, raw FROM ops.rejected_rows WHERE run_id = 'rejects' ORDER BY row_number`,
    );
    // rows after the inserted duplicate (file row 150001) moved down by one
    const expectedRows = [7, 50_001, 123_457, 150_001, LINES + 1, LINES + 2].sort((a, b) => a - b);
    assert.deepEqual(
      rejected.rows.map((x) => x.row_number),
      expectedRows,
    );
    const byRow = new Map(rejected.rows.map((x) => [x.row_number, x]));
    assert.deepEqual(byRow.get(7)!.errors, ['column qty: expected an integer (got "x")']);
    assert.equal(byRow.get(7)!.raw.qty, 'x');
    const firstId = lines[2]!.split(',')[0];
    assert.deepEqual(byRow.get(LINES + 2)!.errors, [`duplicate primary key order_detail_id=${firstId}, first seen at row 3 (line 4)`]);
    const midId = lines[99_999]!.split(',')[0];
    assert.deepEqual(byRow.get(150_001)!.errors, [`duplicate primary key order_detail_id=${midId}, first seen at row 100000 (line 100001)`]);
    // rows moved at publish have their line too (header on line 1, no blank lines: line = row + 1), in any chunk
    assert.deepEqual(
      rejected.rows.map((x) => x.line_number),
      expectedRows.map((row) => row + 1),
    );
    // the first occurrence is the one kept
    const kept = await one<{ order_id: number }>(`SELECT order_id::int FROM staging.order_details WHERE order_detail_id = $1`, [firstId]);
    assert.equal(kept.order_id, Number(lines[2]!.split(',')[1]));
    assert.deepEqual(r.rejectKinds, [
      { kind: 'duplicate primary key', rows: 2 },
      { kind: 'qty: expected an integer', rows: 4 },
    ].sort((a, b) => b.rows - a.rows));
    assert.deepEqual(r.firstRejectedRows, expectedRows);
    const n = await one<{ n: number }>(`SELECT count(*)::int AS n FROM staging.order_details`);
    assert.equal(n.n, r.rowsLoaded);
  });

  void test('over the budget: fails naming file, count, commonest reasons and first rows; staging untouched', async () => {
    const before = await one<{ n: number }>(`SELECT count(*)::int AS n FROM staging.order_details`);
    const data = lines.slice(0, 20_000).map((l, i) => (i % 1000 === 4 ? l.replace(/,(\d+),(\d+),(\d+)$/, ',0,$2,0') : l));
    const d = await sourceDir('over', data);
    await assert.rejects(loadSource(db.pool, orderDetails, d, { runId: 'over', chunkBytes: 64 * 1024, concurrency: 2, rejectBudget: '0.05%' }), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.type, 'SourceRowInvalid');
      assert.match(err.message, /^order_details\.csv: 20 of 20000 row\(s\) rejected, over the reject budget of 0\.05% of rows read/);
      assert.match(err.message, /most common: qty: quantity must be positive \(20\)/);
      assert.match(err.message, /first rejected row\(s\): 5, 1005, 2005, 3005,/);
      return true;
    });
    assert.deepEqual(await one(`SELECT count(*)::int AS n FROM staging.order_details`), before);
    assert.deepEqual(await landingTables(), []);
    const plan = await one<{ status: string }>(`SELECT status FROM ops.load_plans WHERE run_id = 'over'`);
    assert.equal(plan.status, 'failed');
    const kept = await one<{ n: number }>(`SELECT count(*)::int AS n FROM ops.rejected_rows WHERE run_id = 'over'`);
    assert.equal(kept.n, 20, 'the rejected rows stay for inspection');
  });

  void test('a rows budget stops loading as soon as it is blown', async () => {
    const data = lines.map((l, i) => (i === 3 ? l.replace(/^(\d+),/, 'oops,') : l));
    const d = await sourceDir('stop', data);
    await assert.rejects(loadSource(db.pool, orderDetails, d, { runId: 'stop', chunkBytes: CHUNK, concurrency: 1 }), /1 row\(s\) rejected before the load stopped, over the reject budget of 0 row\(s\).*row 4 \(line 5\): column order_detail_id: expected an integer \(got "oops"\)/);
    const ledger = await one<{ chunks: number; stopped: number; untouched: number }>(
      `SELECT count(*)::int AS chunks, count(*) FILTER (WHERE status = 'stopped')::int AS stopped,
              count(*) FILTER (WHERE rows_read = 0)::int AS untouched
         FROM ops.load_chunks WHERE run_id = 'stop'`,
    );
    assert.equal(ledger.stopped, ledger.chunks);
    assert.equal(ledger.untouched, ledger.chunks - 1, 'the chunks after the failed one did not read a row of a file that had already failed');
  });

  void test('a crashed chunk resumes from its last committed batch; a superseded attempt cannot commit', async () => {
    const d = await sourceDir('resume', lines, '\r\n');
    const plan = await planLoad(db.pool, orderDetails, d, { runId: 'resume', dataset: 'django-apparel', chunkBytes: 4 * 1024 * 1024 });
    assert.equal(plan.chunks.length, 2);
    await assert.rejects(loadChunk(db.pool, orderDetails, 'resume', 0, { batchBytes: 256 * 1024, readBytes: 64 * 1024, failAfterBatches: 3 }), /fault injected after 3 batch/);
    const cp = await one<{ byte_done: string; rows_read: number; status: string }>(
      `SELECT byte_done, rows_read::int, status FROM ops.load_chunks WHERE run_id = 'resume' AND chunk = 0`,
    );
    assert.ok(cp.rows_read > 0 && Number(cp.byte_done) > plan.chunks[0]!.byteStart);
    const landed = await one<{ n: number }>(`SELECT count(*)::int AS n FROM landing.${plan.landingTable}`);
    assert.equal(landed.n, cp.rows_read, 'what is committed in landing is exactly what the checkpoint says');

    const beats: { committedRows: number; byteOffset: number }[] = [];
    const second = await loadChunk(db.pool, orderDetails, 'resume', 0, { batchBytes: 256 * 1024, readBytes: 64 * 1024, heartbeat: (b) => beats.push(b) });
    assert.equal(second.resumedFromRow, cp.rows_read);
    assert.equal(beats[0]!.committedRows, cp.rows_read, 'the first heartbeat of the retry carries the checkpoint it resumes from');
    assert.equal(beats[0]!.byteOffset, Number(cp.byte_done));

    // chunk 1: a second attempt takes over while the first is running; the first stops at its next commit
    let takeover: Promise<unknown> | undefined;
    const first = loadChunk(db.pool, orderDetails, 'resume', 1, {
      batchBytes: 128 * 1024,
      readBytes: 64 * 1024,
      heartbeat: () => {
        takeover ??= loadChunk(db.pool, orderDetails, 'resume', 1, { batchBytes: 128 * 1024, readBytes: 64 * 1024 });
      },
    });
    await assert.rejects(first, /taken over by another attempt/);
    await takeover;
    const outcome = await publishLoad(db.pool, orderDetails, 'resume');
    assert.equal(outcome.status, 'published');
    if (outcome.status !== 'published') return;
    assert.deepEqual([outcome.result.rowsRead, outcome.result.rowsLoaded, outcome.result.rowsRejected], [LINES, LINES, 0]);
    const n = await one<{ n: number; ids: number }>(`SELECT count(*)::int AS n, count(DISTINCT order_detail_id)::int AS ids FROM staging.order_details`);
    assert.deepEqual(n, { n: LINES, ids: LINES });
    // publishing again is harmless and answers the same
    const again = await publishLoad(db.pool, orderDetails, 'resume');
    assert.deepEqual(again.status === 'published' && again.result, outcome.result);
    // so is loading a finished chunk again
    const redo = await loadChunk(db.pool, orderDetails, 'resume', 0);
    assert.equal(redo.batches, 0);
  });

  void test('a file replaced between planning and loading fails the load instead of mixing two files', async () => {
    const d = await sourceDir('changed', lines.slice(0, 1000));
    await planLoad(db.pool, orderDetails, d, { runId: 'changed', dataset: 'django-apparel' });
    await appendFile(path.join(d, 'order_details.csv'), `${lines[1500]}\n`);
    await assert.rejects(loadChunk(db.pool, orderDetails, 'changed', 0), (err: unknown) => err instanceof InputError && /changed while being loaded/.test(err.message));
  });

  void test('a file whose content changes in place during the load (same size, same modification time) fails it before a changed byte commits', async () => {
    const d = await sourceDir('in-place', lines.slice(0, 20_000));
    const file = path.join(d, 'order_details.csv');
    const time = 1_700_000_000; // whole seconds: the time set back after the change is exactly the planned one
    await utimes(file, time, time);
    const size = (await stat(file)).size;
    // one digit in the middle of the file (chunk 1 of 2 or more), changed for another: same size
    const text = await readFile(file, 'latin1');
    let at = Math.floor(size * 0.6);
    while (!/[0-8]/.test(text[at]!)) at++;
    const stagedBefore = await db.pool.query(`SELECT count(*)::int AS n, coalesce(sum(hashtext(t::text)), 0)::text AS h FROM staging.order_details t`);
    let changedAt: number | undefined;
    const load = loadSource(db.pool, orderDetails, d, {
      runId: 'in-place',
      chunkBytes: 256 * 1024,
      verifyBlockBytes: 32 * 1024,
      concurrency: 1,
      batchBytes: 16 * 1024,
      readBytes: 8 * 1024,
      heartbeat: (p) => {
        // planned, and a chunk has started: change the file under the load, then set its time back
        if (p.phase !== 'loading' || changedAt !== undefined) return;
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.from(String(Number(text[at]) + 1), 'latin1'), 0, 1, at);
        closeSync(fd);
        utimesSync(file, time, time);
        changedAt = at;
      },
    });
    await assert.rejects(load, (err: unknown) => {
      assert.ok(err instanceof InputError, String(err));
      assert.equal(err.type, 'SourceFormatError');
      assert.match(err.message, /^order_details\.csv: changed while being loaded \(its bytes \d+ to \d+ are not the ones planned: sha256 [0-9a-f]{64}, planned [0-9a-f]{64}\); run the load again$/);
      return true;
    });
    assert.equal(changedAt, at);
    const plan = await one<{ size_bytes: string; mtime_ms: string; status: string; chunks: number; landing_table: string }>(
      `SELECT size_bytes, mtime_ms, status, landing_table, (SELECT count(*)::int FROM ops.load_chunks c WHERE c.run_id = p.run_id) AS chunks
         FROM ops.load_plans p WHERE run_id = 'in-place'`,
    );
    const st = await stat(file);
    assert.deepEqual([Number(plan.size_bytes), Number(plan.mtime_ms)], [st.size, st.mtimeMs], 'size and modification time are as planned: only the bytes tell');
    assert.ok(plan.chunks >= 3, `${plan.chunks} chunks`);
    // batches before the changed block committed; none reached into it
    const blockStart = Math.floor(at / (32 * 1024)) * 32 * 1024;
    const chunks = await db.pool.query<{ chunk: number; byte_start: string; byte_end: string; byte_done: string }>(
      `SELECT chunk, byte_start, byte_end, byte_done FROM ops.load_chunks WHERE run_id = 'in-place' ORDER BY chunk`,
    );
    const hit = chunks.rows.find((c) => Number(c.byte_start) <= at && at < Number(c.byte_end))!;
    assert.ok(Number(hit.byte_done) > Number(hit.byte_start), 'the chunk committed batches before it reached the change');
    assert.ok(Number(hit.byte_done) <= blockStart, `committed up to byte ${hit.byte_done}, the changed block starts at ${blockStart}`);
    // nothing of it published: the load failed, its landing table is gone, staging is as it was, no ops.loads row
    assert.equal(plan.status, 'failed');
    assert.ok(!(await landingTables()).includes(plan.landing_table), 'its landing table is dropped');
    const stagedAfter = await db.pool.query(`SELECT count(*)::int AS n, coalesce(sum(hashtext(t::text)), 0)::text AS h FROM staging.order_details t`);
    assert.deepEqual(stagedAfter.rows, stagedBefore.rows);
    assert.deepEqual(await one(`SELECT count(*)::int AS n FROM ops.loads WHERE run_id = 'in-place'`), { n: 0 });
  });

  void test('a JSON file whose content changes in place (same size, same modification time) fails at the block its reader reads', async () => {
    const products = djangoApparel.sources.find((s) => s.name === 'products')!;
    const d = path.join(dir, 'in-place-json');
    await mkdir(d, { recursive: true });
    const file = path.join(d, products.file);
    const rec = (id: number, name: string) => JSON.stringify({ product_id: id, product_name: name, size: 'M', price: 10, product_category_id: 1 });
    await writeFile(file, `[${rec(1, 'Aa')},\n${rec(2, 'Bb')}]`);
    await utimes(file, 1_700_000_000, 1_700_000_000);
    await planLoad(db.pool, products, d, { runId: 'in-place-json', dataset: 'django-apparel' });
    await writeFile(file, `[${rec(1, 'Aa')},\n${rec(2, 'Cc')}]`);
    await utimes(file, 1_700_000_000, 1_700_000_000);
    await assert.rejects(loadChunk(db.pool, products, 'in-place-json', 0), (err: unknown) => {
      assert.ok(err instanceof InputError, String(err));
      assert.match(err.message, /^products\.json: changed while being loaded \(its bytes 0 to \d+ are not the ones planned: sha256 [0-9a-f]{64}, planned [0-9a-f]{64}\); run the load again$/);
      return true;
    });
    const chunk = await one<{ status: string; rows_read: number }>(`SELECT status, rows_read::int FROM ops.load_chunks WHERE run_id = 'in-place-json'`);
    assert.deepEqual(chunk, { status: 'loading', rows_read: 0 }, 'its last (here: only) batch did not commit');
  });

  void test('staging with a view on it is refreshed in place (the swap falls back to TRUNCATE + INSERT)', async () => {
    await db.pool.query(`CREATE VIEW public.big_orders AS SELECT order_detail_id FROM staging.order_details WHERE qty > 3`);
    const d = await sourceDir('view', lines.slice(0, 5000));
    const r = await loadSource(db.pool, orderDetails, d, { runId: 'view' });
    assert.equal(r.rowsLoaded, 5000);
    const n = await one<{ n: number }>(`SELECT count(*)::int AS n FROM staging.order_details`);
    assert.equal(n.n, 5000);
    const v = await one<{ n: number }>(`SELECT count(*)::int AS n FROM public.big_orders`);
    assert.equal(v.n, lines.slice(0, 5000).filter((l) => Number(l.split(',')[3]) > 3).length);
    await db.pool.query(`DROP VIEW public.big_orders`);
  });

  void test('landing tables of runs that died are swept by a later plan', async () => {
    const d = await sourceDir('dead', lines.slice(0, 100));
    const dead = await planLoad(db.pool, orderDetails, d, { runId: 'dead', dataset: 'django-apparel' });
    assert.ok((await landingTables()).includes(dead.landingTable));
    await planLoad(db.pool, orderDetails, d, { runId: 'alive', dataset: 'django-apparel', staleAfterMs: 0 });
    const tables = await landingTables();
    assert.ok(!tables.includes(dead.landingTable), 'the dead run`s landing table is gone');
    const status = await one<{ status: string }>(`SELECT status FROM ops.load_plans WHERE run_id = 'dead'`);
    assert.equal(status.status, 'abandoned');
    await loadSource(db.pool, orderDetails, d, { runId: 'alive' });
    assert.deepEqual(await landingTables(), []);
  });
});

void describe('the Superstore sample (BOM, mixed month-first dates, quoted names)', () => {
  const superstore = superstoreRawSource('superstore_orders', path.basename(SUPERSTORE_SAMPLE));

  void test('loads end to end into staging, every row, dates month-first', async () => {
    const r = await loadSource(db.pool, superstore, path.dirname(SUPERSTORE_SAMPLE), { runId: 'superstore', chunkBytes: 256 * 1024, concurrency: 2 });
    assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [9994, 9994, 0]);
    assert.ok(r.chunks! >= 4, 'a quoted file is cut into chunks too (at record starts)');
    const first = await one<Record<string, unknown>>(
      `SELECT row_id::int, order_id, to_char(order_date, 'YYYY-MM-DD') AS order_date, to_char(ship_date, 'YYYY-MM-DD') AS ship_date,
              customer_name, product_name, sales::text, quantity::int, profit::text
         FROM staging.superstore_orders WHERE row_id IN (1) `,
    );
    assert.deepEqual(first, {
      row_id: 1,
      order_id: 'CA-2016-152156',
      order_date: '2016-11-08',
      ship_date: '2016-11-11',
      customer_name: 'Claire Gute',
      product_name: 'Bush Somerset Collection Bookcase',
      sales: '261.96',
      quantity: 2,
      profit: '41.9136',
    });
    const quoted = await one<{ product_name: string }>(`SELECT product_name FROM staging.superstore_orders WHERE row_id = 17`);
    assert.equal(quoted.product_name, 'Stur-D-Stor Shelving, Vertical 5-Shelf: 72"H x 36"W x 18 1/2"D');
    const slash = await one<{ d: string }>(
      `SELECT to_char(order_date, 'YYYY-MM-DD') AS d FROM staging.superstore_orders WHERE row_id = 13`,
    );
    assert.equal(slash.d, '2017-04-15', 'M/D/YYYY');
    const total = await one<{ s: string }>(`SELECT round(sum(sales), 2)::text AS s FROM staging.superstore_orders`);
    assert.equal(total.s, '2297200.86');
  });
});
