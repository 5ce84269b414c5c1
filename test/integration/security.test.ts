import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import pg from 'pg';
import { failureMessage, startPipeline } from '../../src/client';
import type { PipelineSummary } from '../../src/contracts';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { loadSource } from '../../src/ingest/load';
import { resolveSourceFile } from '../../src/ingest/paths';
import { migrate } from '../../src/warehouse/migrate';
import { createWorker } from '../../src/worker-factory';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Issue 4, security: names never come from files, paths stay under the source root, the pipeline runs as a role
// with only the privileges it uses, and no credential reaches a workflow payload or an error message.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const ROLE_SQL = path.resolve(import.meta.dirname, '../../sql/roles/gudang_role.sql');
const orderDetails = djangoApparel.sources.find((s) => s.name === 'order_details')!;
const orders = djangoApparel.sources.find((s) => s.name === 'orders')!;

let h: PipelineHarness;
let dir: string;
let root: string;
const login = `gudang_sec_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
let restricted: pg.Pool;

before(async () => {
  h = await startHarness();
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-sec-'));
  root = path.join(dir, 'root');
  await mkdir(root);
  await cp(SEED, path.join(root, 'seed'), { recursive: true });
  // the restricted role, as an operator would set it up (after the owner ran the migrations)
  await h.db.pool.query(await readFile(ROLE_SQL, 'utf8'));
  await h.db.pool.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE gudang_pipeline`);
  await h.db.pool.query(`ALTER ROLE ${login} SET role TO gudang_pipeline`);
  const url = new URL(h.db.url);
  url.username = login;
  url.password = password; // the local server trusts; the password is here to be looked for in payloads
  restricted = new pg.Pool({ connectionString: url.toString(), max: 6 });
  restricted.on('error', () => undefined);
});

after(async () => {
  await restricted?.end().catch(() => undefined);
  await h?.close();
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || 'postgres://root@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => undefined);
  await admin.end();
  if (dir) await rm(dir, { recursive: true, force: true });
});

void describe('names never come from file content', () => {
  void test('a header crafted as SQL is just a header that does not match', async () => {
    await h.db.pool.query(`CREATE TABLE public.canary (x int)`);
    const d = path.join(dir, 'inject');
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'order_details.csv'), 'order_detail_id,order_id,product_id,"qty""; DROP TABLE public.canary; --",item_price,unit_sales\n1,1,1,1,1,1\n');
    await assert.rejects(loadSource(h.db.pool, orderDetails, d), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.type, 'SourceHeaderMismatch');
      assert.match(err.message, /missing column\(s\) qty; unexpected column\(s\) "qty\\"; DROP TABLE public\.canary; --"/);
      return true;
    });
    const still = await h.db.pool.query(`SELECT to_regclass('public.canary') AS t`);
    assert.equal(still.rows[0].t, 'canary');
  });

  void test('values crafted as SQL are stored as text', async () => {
    const d = path.join(dir, 'values');
    await mkdir(d, { recursive: true });
    const evil = `x'); DROP TABLE public.canary; --`;
    await writeFile(path.join(d, 'orders.csv'), `order_id,order_date,customer_id,province_id,city_id\n1,2022-01-01,1,1,1\n`);
    await loadSource(h.db.pool, orders, d);
    const customers = djangoApparel.sources.find((s) => s.name === 'product_categories')!;
    await writeFile(path.join(d, 'product_categories.json'), JSON.stringify([{ product_category_id: 1, product_category_name: evil }]));
    await loadSource(h.db.pool, customers, d);
    const stored = await h.db.pool.query(`SELECT product_category_name AS n FROM staging.product_categories`);
    assert.equal(stored.rows[0].n, evil);
    assert.equal((await h.db.pool.query(`SELECT to_regclass('public.canary') AS t`)).rows[0].t, 'canary');
  });
});

void describe('source paths stay under GUDANG_SOURCE_ROOT', () => {
  const refused = (err: unknown) => err instanceof InputError && err.type === 'SourcePathRefused';

  void test('.. out of the root, a symlinked directory or file pointing out of it: refused', async () => {
    const outside = path.join(dir, 'outside');
    await cp(path.join(root, 'seed'), outside, { recursive: true });
    await assert.rejects(resolveSourceFile(path.join(root, '..', 'outside'), 'orders.csv', root), refused);
    await symlink(outside, path.join(root, 'linked-dir'));
    await assert.rejects(resolveSourceFile(path.join(root, 'linked-dir'), 'orders.csv', root), refused);
    await mkdir(path.join(root, 'sneaky'));
    await symlink(path.join(outside, 'orders.csv'), path.join(root, 'sneaky', 'orders.csv'));
    await assert.rejects(resolveSourceFile(path.join(root, 'sneaky'), 'orders.csv', root), refused);
    await assert.rejects(resolveSourceFile(root, '../outside/orders.csv', root), refused);
    // inside the root, symlinks are fine; a missing file is reported as missing
    await symlink(path.join(root, 'seed'), path.join(root, 'alias'));
    assert.equal(await resolveSourceFile(path.join(root, 'alias'), 'orders.csv', root), path.join(await import('node:fs/promises').then((f) => f.realpath(root)), 'seed', 'orders.csv'));
    await assert.rejects(resolveSourceFile(path.join(root, 'seed'), 'nope.csv', root), (err: unknown) => err instanceof InputError && err.type === 'SourceFileMissing');
    // without a root, any path is taken as given
    assert.ok(await resolveSourceFile(outside, 'orders.csv'));
  });

  void test('through the pipeline: refused at once, not retried', async () => {
    process.env.GUDANG_SOURCE_ROOT = root;
    const worker = await h.newWorker();
    delete process.env.GUDANG_SOURCE_ROOT;
    await worker.runUntil(async () => {
      const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: path.join(root, '..', 'outside'), runKey: 'escape' });
      const err = await run.handle.result().then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.match(failureMessage(err), /refused: the source directory .* is outside the source root/);
      const history = await run.handle.fetchHistory();
      assert.equal(history.events!.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length, 0);
    });
  });
});

void describe('the restricted role', () => {
  void test('has what the pipeline uses and nothing more', async () => {
    const c = await restricted.connect();
    try {
      const who = await c.query(`SELECT current_user AS u, session_user AS s`);
      assert.deepEqual(who.rows[0], { u: 'gudang_pipeline', s: login });
      for (const sql of [
        'CREATE TABLE public.x (i int)',
        'CREATE SCHEMA evil',
        'DROP TABLE ops.loads',
        'ALTER TABLE ops.rejected_rows ADD COLUMN x int',
        'DELETE FROM ops.schema_migrations',
        'SELECT * FROM pg_authid',
        'CREATE ROLE x',
        'CREATE TABLE ops.x (i int)',
      ]) {
        await assert.rejects(c.query(sql), /permission denied|must be owner/, sql);
      }
    } finally {
      c.release();
    }
  });

  void test('a whole pipeline run as the restricted role: loads (with rejects and a duplicate key), models, gates', async () => {
    // tables that earlier tests created as the owner are handed over by running the template again
    await h.db.pool.query(await readFile(ROLE_SQL, 'utf8'));
    // migrations are the owner's job (done by the harness); the restricted role's worker start-up only checks them
    assert.deepEqual(await migrate(restricted), []);
    const d = path.join(root, 'restricted');
    await cp(path.join(root, 'seed'), d, { recursive: true });
    const od = path.join(d, 'order_details.csv');
    const lines = (await readFile(od, 'utf8')).split('\n');
    lines[3] = lines[3]!.replace(/^(\d+),(\d+),(\d+),(\d+),/, '$1,$2,$3,x,');
    lines.splice(lines.length - 1, 0, lines[1]!); // a duplicate of row 1's key
    await writeFile(od, lines.join('\n'));

    const connection = await NativeConnection.connect({ address: h.server.address });
    try {
      const worker: Worker = await createWorker({ config: h.config, pool: restricted, connection, options: { workflowBundle: { code: h.workflowCode } } });
      const summary = await worker.runUntil(async () => {
        const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: d, runKey: 'restricted', rejectBudget: '2' });
        try {
          return (await run.handle.result()) as PipelineSummary;
        } catch (err) {
          assert.fail(`the run as gudang_pipeline failed: ${failureMessage(err)}`);
        }
      });
      const load = summary.loads.find((l) => l.source === 'order_details')!;
      assert.equal(load.rowsRejected, 2);
      assert.ok(summary.gates.every((g) => g.checks.every((c) => c.passed)));
      const owners = await h.db.pool.query(`SELECT DISTINCT tableowner AS o FROM pg_tables WHERE schemaname IN ('staging', 'warehouse', 'mart')`);
      assert.deepEqual(owners.rows, [{ o: 'gudang_pipeline' }]);

      // no credential in the workflow's history (payloads, failures) or in the ledgers
      const history = JSON.stringify((await h.client.workflow.getHandle(summary.workflowId, summary.runId).fetchHistory()).events);
      assert.ok(history.length > 1000);
      assert.ok(!history.includes(password), 'the database password must not appear in the workflow history');
      assert.ok(!history.includes(login), 'nor the database user');
      const ledgers = await h.db.pool.query(
        `SELECT (SELECT string_agg(row_to_json(p)::text, '') FROM ops.load_plans p) || (SELECT string_agg(row_to_json(r)::text, '') FROM ops.rejected_rows r) AS t`,
      );
      assert.ok(!String(ledgers.rows[0].t).includes(password));
    } finally {
      await connection.close();
    }
  });

  void test('a failing load as the restricted role does not leak the connection string either', async () => {
    const err = await loadSource(restricted, orderDetails, path.join(root, 'missing')).then(
      () => assert.fail('should fail'),
      (e: unknown) => e as Error,
    );
    assert.ok(!err.message.includes(password) && !String(err.stack).includes(password));
  });
});
