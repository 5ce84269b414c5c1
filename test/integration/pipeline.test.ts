import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { failureMessage, startPipeline } from '../../src/client';
import type { PipelineSummary } from '../../src/contracts';
import { expectedMarts } from '../helpers/expected-marts';
import { dumpTables, startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

describe('the Django Apparel pipeline on a real Temporal server and a real PostgreSQL', () => {
  let h: PipelineHarness;

  before(async () => {
    h = await startHarness();
    await h.runWorker();
  });

  after(() => h.close());

  const runPipeline = (sourceDir: string, runKey: string) => h.runPipeline({ dataset: 'django-apparel', sourceDir, runKey });

  let firstSummary: PipelineSummary;

  test('a full run on the seed files builds marts that match an independent computation from the raw files', async () => {
    firstSummary = await runPipeline(SEED, 'seed');
    const expected = await expectedMarts(SEED);

    assert.deepEqual(firstSummary.rows['staging.order_details'], 18322);
    assert.deepEqual(firstSummary.rows['staging.orders'], 7000);
    assert.equal(firstSummary.rows['staging.customers'], 200);
    assert.equal(firstSummary.rows['staging.cities'], 222);
    assert.equal(firstSummary.rows['staging.provinces'], 11);
    assert.equal(firstSummary.rows['staging.products'], 43);
    assert.equal(firstSummary.rows['staging.product_categories'], 2);
    assert.equal(firstSummary.rows['warehouse.fct_transactions'], expected.lines);
    for (const l of firstSummary.loads) assert.equal(l.rowsRead, l.rowsLoaded, `${l.file}: every row read is loaded`);
    assert.ok(firstSummary.gates.every((g) => g.checks.length > 0 && g.checks.every((c) => c.passed)));
    assert.ok(firstSummary.steps.length >= 7 + 7 + 3, 'a step per load, per model and per gate');

    const months = await h.db.pool.query(
      `SELECT to_char(month, 'YYYY-MM') AS month, total_revenue::float8, total_orders::int, total_quantity::int, average_order_value::float8
       FROM mart.dm_revenue_by_months ORDER BY month`,
    );
    assert.deepEqual(months.rows, expected.months);

    const cityProducts = await h.db.pool.query(
      `SELECT city_id::int, city_name, province_name, product_id::int, product_name, size, product_category_name,
              total_quantity::int, total_sales::float8, total_orders::int
       FROM mart.dm_perfomance_product_by_cities ORDER BY city_id, product_id`,
    );
    assert.equal(cityProducts.rows.length, expected.cityProducts.length);
    assert.deepEqual(cityProducts.rows, expected.cityProducts);

    const ledger = await h.db.pool.query<{ source: string; file: string; sha256: string; rows_read: number; rows_loaded: number }>(`SELECT source, file, sha256, rows_read::int, rows_loaded::int FROM ops.loads WHERE run_id = $1 ORDER BY source`, [firstSummary.runId]);
    assert.equal(ledger.rows.length, 7);
    assert.ok(ledger.rows.every((r) => /^[0-9a-f]{64}$/.test(r.sha256) && r.rows_read === r.rows_loaded));
  });

  test('a second run on the same files leaves every table identical', async () => {
    const before = await dumpTables(h.db.pool);
    const second = await runPipeline(SEED, 'seed');
    assert.notEqual(second.runId, firstSummary.runId);
    const afterRun = await dumpTables(h.db.pool);
    assert.deepEqual(Object.keys(afterRun), Object.keys(before));
    for (const t of Object.keys(before)) assert.deepEqual(afterRun[t], before[t], `${t} changed on rerun`);
  });

  test('the recorded history of the run replays deterministically', async () => {
    const history = await h.client.workflow.getHandle(firstSummary.workflowId, firstSummary.runId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { code: h.workflowCode }, replayName: 'seed-run' }, history);
    await mkdir(ARTIFACTS, { recursive: true });
    const { historyToJSON } = await import('@temporalio/common/lib/proto-utils');
    await writeFile(path.join(ARTIFACTS, 'pipeline-history.json'), historyToJSON(history));
  });

  test('a mart summed from another mart of its layer starts once that one is built; the others build side by side', async () => {
    const events = (await h.client.workflow.getHandle(firstSummary.workflowId, firstSummary.runId).fetchHistory()).events!;
    const model = new Map<string, string>(); // scheduled event id -> model
    const scheduled = new Map<string, number>();
    const completed = new Map<string, number>();
    for (const [i, e] of events.entries()) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'buildModel') {
        const name = (JSON.parse(Buffer.from(s.input!.payloads![0]!.data!).toString()) as { model: string }).model;
        model.set(String(e.eventId), name);
        scheduled.set(name, i);
      }
      const done = e.activityTaskCompletedEventAttributes;
      const name = done ? model.get(String(done.scheduledEventId)) : undefined;
      if (name) completed.set(name, i);
    }
    const monthly = 'dm_perfomance_product_by_cities_monthly';
    assert.ok(scheduled.get('dm_perfomance_product_by_cities')! > completed.get(monthly)!, 'the all-time mart waits for the monthly one');
    assert.ok(scheduled.get('dm_revenue_by_months')! < completed.get(monthly)!, 'the revenue mart does not wait');
    assert.ok(scheduled.get('dim_products')! < completed.get('dim_date')!, 'dimensions build side by side');
  });

  async function brokenCopy(mutate: (dir: string) => Promise<void>): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'gudang-bad-'));
    await cp(SEED, dir, { recursive: true });
    await mutate(dir);
    return dir;
  }

  async function expectFailure(dir: string, runKey: string): Promise<string> {
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: dir, runKey });
    const err = await run.handle.result().then(
      () => assert.fail('the run should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    // Fail fast: bad input is not retried.
    const history = await run.handle.fetchHistory();
    const retried = history.events!.filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
    assert.equal(retried.length, 0, 'bad input must not be retried');
    return failureMessage(err);
  }

  test('a renamed column fails the run at once, naming the file and the columns', async () => {
    const dir = await brokenCopy(async (d) => {
      const f = path.join(d, 'orders.csv');
      await writeFile(f, (await readFile(f, 'utf8')).replace('city_id', 'town_id'));
    });
    const message = await expectFailure(dir, 'bad-header');
    assert.match(message, /orders\.csv/);
    assert.match(message, /city_id/);
    assert.match(message, /town_id/);
  });

  test('an invalid row fails the run, naming file, row, column and value, and leaves staging as it was', async () => {
    const before = await dumpTables(h.db.pool);
    const dir = await brokenCopy(async (d) => {
      const f = path.join(d, 'order_details.csv');
      const lines = (await readFile(f, 'utf8')).split('\n');
      const cells = lines[5]!.split(',');
      cells[3] = 'two';
      lines[5] = cells.join(',');
      await writeFile(f, lines.join('\n'));
    });
    const message = await expectFailure(dir, 'bad-row');
    assert.match(message, /order_details\.csv/);
    assert.match(message, /row 5\b/);
    assert.match(message, /qty/);
    assert.match(message, /"two"/);
    const afterRun = await dumpTables(h.db.pool);
    assert.deepEqual(afterRun['staging.order_details'], before['staging.order_details']);
  });

  test('a missing file fails fast with its name', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gudang-empty-'));
    const message = await expectFailure(dir, 'no-files');
    assert.match(message, /not found/);
  });

  test('starting the same run twice while it is in flight joins the first instead of loading twice', async () => {
    const [a, b] = await Promise.all([
      startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: SEED, runKey: 'twice' }),
      startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: SEED, runKey: 'twice' }),
    ]);
    assert.equal(a.workflowId, b.workflowId);
    assert.equal(a.runId, b.runId);
    await a.handle.result();
    const loads = await h.db.pool.query(`SELECT count(*)::int AS n FROM ops.loads WHERE run_id = $1`, [a.runId]);
    assert.equal(loads.rows[0].n, 7);
  });
});
