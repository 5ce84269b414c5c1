import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import type { PipelineSummary } from '../../src/contracts';
import { cliEnv, runCli } from '../helpers/cli';
import { dumpTables, startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Runs as an operator sees them: the client script's run / status / cancel / runs / rerun commands and exit
// codes, the run history they leave in ops.*, and month-by-month loading, on a real Temporal dev server
// and a real PostgreSQL.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const DATASET = 'django-apparel';

describe('run, status, cancel, runs and rerun on a real Temporal server and PostgreSQL', () => {
  let h: PipelineHarness;
  let env: NodeJS.ProcessEnv;
  const temp: string[] = [];

  before(async () => {
    h = await startHarness();
    await h.runWorker();
    env = cliEnv(h.config, { GUDANG_SOURCE_DIR: SEED });
  });

  after(async () => {
    await h.close();
    for (const dir of temp) await rm(dir, { recursive: true, force: true });
  });

  const count = async (sql: string, params: unknown[] = []) => (await h.db.pool.query<{ n: number }>(sql, params)).rows[0]!.n;

  let marchRunId: string;

  test('run --period --wait loads one month, prints plain progress lines off a terminal, and records its history', async () => {
    const result = await runCli(['run', '--period', '2022-03', '--wait'], env);
    assert.equal(result.code, 0, result.output);
    assert.match(result.stdout, /^started gudang-django-apparel-2022-03 \(run [0-9a-f-]{36}\)$/m);
    assert.match(result.stdout, /^web ui: http:\/\/.*\/workflows\/gudang-django-apparel-2022-03\//m);
    assert.match(result.stdout, /running\s+March 2022 \(2022-03\), manual run/);
    assert.match(result.stdout, /completed in .*: March 2022 \(2022-03\), manual run/);
    assert.match(result.stdout, /^build fct_transactions\s+completed\s+warehouse\.fct_transactions\s+1549\s/m);
    assert.match(result.stdout, /fact rows per loaded month \(ops\.partitions\): 2022-03: 1,549/);
    assert.ok(!result.stdout.includes('\r') && !result.stdout.includes('\u001b['), 'no progress bar or escape codes when stdout is not a terminal');

    const runs = await h.db.pool.query(`SELECT * FROM ops.pipeline_runs`);
    assert.equal(runs.rows.length, 1);
    const run = runs.rows[0];
    marchRunId = run.run_id;
    assert.equal(run.workflow_id, 'gudang-django-apparel-2022-03');
    assert.deepEqual(
      [run.dataset, run.period, run.trigger, run.status, run.rows_loaded, run.period_rows, run.error],
      [DATASET, '2022-03', 'manual', 'completed', 25800, 1549, null],
    );
    assert.ok(run.finished_at > run.started_at);

    const steps = await h.db.pool.query(`SELECT step, phase, kind, status, rows_in, rows_out, started_at, finished_at FROM ops.step_runs WHERE run_id = $1 ORDER BY seq`, [marchRunId]);
    assert.equal(steps.rows.length, 19, 'seven loads, eight models, three gates, one publish');
    assert.ok(steps.rows.every((s) => s.status === 'completed' && s.started_at && s.finished_at >= s.started_at));
    assert.deepEqual(steps.rows.find((s) => s.step === 'load orders'), {
      ...steps.rows.find((s) => s.step === 'load orders'),
      phase: 'ingest',
      kind: 'load',
      rows_in: 7000,
      rows_out: 7000,
    });
    assert.equal(steps.rows.find((s) => s.step === 'build fct_transactions').rows_out, 1549);

    // Only March is in the fact and the marts.
    const months = await h.db.pool.query(`SELECT DISTINCT to_char(order_date, 'YYYY-MM') AS m FROM warehouse.fct_transactions`);
    assert.deepEqual(months.rows, [{ m: '2022-03' }]);
    assert.deepEqual((await h.db.pool.query(`SELECT to_char(month, 'YYYY-MM') AS m FROM mart.dm_revenue_by_months`)).rows, [{ m: '2022-03' }]);
    assert.equal(await count(`SELECT sum(total_quantity)::int AS n FROM mart.dm_perfomance_product_by_cities`), await count(`SELECT sum(qty)::int AS n FROM warehouse.fct_transactions`));
  });

  test('status shows a finished run by workflow id or by run id', async () => {
    const byWorkflow = await runCli(['status', 'gudang-django-apparel-2022-03'], env);
    assert.equal(byWorkflow.code, 0, byWorkflow.output);
    assert.match(byWorkflow.stdout, /completed in .*: March 2022 \(2022-03\), manual run/);
    assert.match(byWorkflow.stdout, /^load order_details\s+completed\s+staging\.order_details\s+18322\s/m);
    const byRun = await runCli(['status', marchRunId], env);
    assert.equal(byRun.code, 0, byRun.output);
    assert.match(byRun.stdout, new RegExp(`pipelineWorkflow gudang-django-apparel-2022-03 \\(run ${marchRunId}\\)`));
  });

  test('rerun --from-step facts re-executes only the later steps and leaves staging untouched', async () => {
    const before = await dumpTables(h.db.pool);
    const loadsBefore = await count(`SELECT count(*)::int AS n FROM ops.loads`);
    // Something for the rerun to repair: a fact row gone missing.
    await h.db.pool.query(`DELETE FROM warehouse.fct_transactions WHERE order_detail_id = (SELECT min(order_detail_id) FROM warehouse.fct_transactions)`);

    const result = await runCli(['rerun', 'gudang-django-apparel-2022-03', '--from-step', 'facts', '--wait'], env);
    assert.equal(result.code, 0, result.output);
    assert.match(result.stdout, new RegExp(`rerun of gudang-django-apparel-2022-03 \\(run ${marchRunId}, completed\\) from step facts: started gudang-django-apparel-2022-03`));
    assert.match(result.stdout, /completed in .*: March 2022 \(2022-03\), rerun from step facts/);
    assert.match(result.stdout, /^load orders\s+skipped\s*$/m);

    const afterRun = await dumpTables(h.db.pool);
    for (const t of Object.keys(before).filter((t) => t.startsWith('staging.'))) assert.deepEqual(afterRun[t], before[t], `${t} was touched`);
    assert.equal(await count(`SELECT count(*)::int AS n FROM ops.loads`), loadsBefore, 'no file was loaded');
    assert.deepEqual(afterRun['warehouse.fct_transactions'], before['warehouse.fct_transactions'], 'the fact was rebuilt');
    assert.deepEqual(afterRun['warehouse.dim_customers'], before['warehouse.dim_customers']);

    const rerun = (await h.db.pool.query(`SELECT run_id, trigger, from_step, rerun_of, status FROM ops.pipeline_runs WHERE trigger = 'rerun'`)).rows;
    assert.equal(rerun.length, 1);
    assert.deepEqual(rerun[0], { ...rerun[0], trigger: 'rerun', from_step: 'facts', rerun_of: `gudang-django-apparel-2022-03/${marchRunId}`, status: 'completed' });
    const steps = await h.db.pool.query(`SELECT step, status FROM ops.step_runs WHERE run_id = $1 ORDER BY seq`, [rerun[0].run_id]);
    assert.deepEqual(
      steps.rows.filter((s) => s.status !== 'skipped').map((s) => s.step),
      ['build fct_transactions', 'check facts', 'build dm_perfomance_product_by_cities_monthly', 'build dm_perfomance_product_by_cities', 'build dm_revenue_by_months', 'check marts', 'publish warehouse'],
    );
    assert.equal(steps.rows.filter((s) => s.status === 'skipped').length, 12);

    // The Temporal history agrees: no load activity, no dimension build.
    const history = await h.client.workflow.getHandle('gudang-django-apparel-2022-03', rerun[0].run_id).fetchHistory();
    const activities = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name ?? '');
    const loads = activities.filter((a) => ['loadSource', 'planLoad', 'loadChunk', 'publishLoad'].includes(a));
    assert.deepEqual(loads, [], activities.join(', '));
    assert.equal(activities.filter((a) => a === 'buildModel').length, 4, 'the fact and three marts');
  });

  test('a failing run makes run --wait exit 1 with the error message, and is recorded as failed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gudang-ops-bad-'));
    temp.push(dir);
    await cp(SEED, dir, { recursive: true });
    const orders = path.join(dir, 'orders.csv');
    await writeFile(orders, (await readFile(orders, 'utf8')).replace('city_id', 'town_id'));

    const result = await runCli(['run', '--period', '2022-04', '--source', dir, '--wait'], env);
    assert.equal(result.code, 1, result.output);
    assert.match(result.stderr, /^run failed: load orders: orders\.csv: .*city_id.*town_id/m);
    assert.match(result.stdout, /failed: April 2022 \(2022-04\), manual run/);
    assert.match(result.stdout, /^load orders\s+failed/m);

    const run = (await h.db.pool.query(`SELECT run_id, status, error FROM ops.pipeline_runs WHERE period = '2022-04'`)).rows;
    assert.equal(run.length, 1);
    assert.equal(run[0].status, 'failed');
    assert.match(run[0].error, /orders\.csv/);
    const failedStep = await h.db.pool.query(`SELECT step, error FROM ops.step_runs WHERE run_id = $1 AND status = 'failed'`, [run[0].run_id]);
    assert.deepEqual(failedStep.rows.map((r) => r.step), ['load orders']);
    // order_details publishes after its parent orders (the dataset's relations): it is skipped, naming the parent
    const child = await h.db.pool.query(`SELECT status, error FROM ops.step_runs WHERE run_id = $1 AND step = 'load order_details'`, [run[0].run_id]);
    assert.equal(child.rows[0]?.status, 'skipped', JSON.stringify(child.rows));
    assert.match(child.rows[0].error, /parent source orders did not load/);
    const partition = await h.db.pool.query(`SELECT status FROM ops.partitions WHERE period = '2022-04'`);
    assert.deepEqual(partition.rows, [{ status: 'failed' }]);

    const status = await runCli(['status', 'gudang-django-apparel-2022-04'], env);
    assert.equal(status.code, 1, status.output);
    assert.match(status.stdout, /error: load orders: orders\.csv/);
  });

  test('cancel stops a run, which records itself as cancelled', async () => {
    // On a task queue no worker polls yet, the run is sure to be in progress when the cancellation arrives.
    const queue = `${h.config.TEMPORAL_TASK_QUEUE}-later`;
    const run = await startPipeline(h.client, { ...h.config, TEMPORAL_TASK_QUEUE: queue }, { dataset: DATASET, sourceDir: SEED, period: '2022-05' });
    const cancelled = await runCli(['cancel', run.workflowId], env);
    assert.equal(cancelled.code, 0, cancelled.output);
    assert.match(cancelled.stdout, /cancellation requested for gudang-django-apparel-2022-05/);

    const late = await h.newWorker({ TEMPORAL_TASK_QUEUE: queue });
    await late.runUntil(async () => {
      await assert.rejects(run.handle.result());
    });
    assert.equal((await run.handle.describe()).status.name, 'CANCELLED');
    const row = (await h.db.pool.query(`SELECT status, error FROM ops.pipeline_runs WHERE run_id = $1`, [run.runId])).rows;
    assert.deepEqual(row, [{ status: 'cancelled', error: 'cancelled' }]);
    assert.deepEqual((await h.db.pool.query(`SELECT status FROM ops.partitions WHERE period = '2022-05'`)).rows, [{ status: 'cancelled' }]);

    const again = await runCli(['cancel', run.workflowId], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already cancelled: nothing to cancel/);
  });

  test('runs lists the history from PostgreSQL, or from Temporal without DATABASE_URL', async () => {
    const fromDb = await runCli(['runs', '--limit', '10'], env);
    assert.equal(fromDb.code, 0, fromDb.output);
    const lines = fromDb.stdout.trim().split('\n');
    assert.match(lines[0]!, /^started \(UTC\)\s+workflow\s+trigger\s+period\s+status\s+duration\s+loaded\s+fact rows\s+error$/);
    assert.equal(lines.length, 2 + 4, 'header, rule, four runs');
    assert.match(lines[2]!, /gudang-django-apparel-2022-05\s+manual\s+2022-05\s+cancelled/);
    assert.match(fromDb.stdout, /gudang-django-apparel-2022-04\s+manual\s+2022-04\s+failed .*load orders: orders\.csv/);
    assert.match(fromDb.stdout, /gudang-django-apparel-2022-03\s+rerun \(from facts\)\s+2022-03\s+completed/);
    assert.match(fromDb.stdout, /gudang-django-apparel-2022-03\s+manual\s+2022-03\s+completed\s+\S+ s\s+25,800\s+1,549/);

    const failedOnly = await runCli(['runs', '--status', 'failed'], env);
    assert.equal(failedOnly.stdout.trim().split('\n').length, 3);

    const partitions = await runCli(['runs', '--partitions'], env);
    assert.match(partitions.stdout, /django-apparel\s+2022-03\s+loaded\s+1,549/);

    const noDb = { ...env };
    delete noDb.DATABASE_URL;
    const fromTemporal = await runCli(['runs'], noDb);
    assert.equal(fromTemporal.code, 0, fromTemporal.output);
    assert.match(fromTemporal.stdout, /gudang-django-apparel-2022-04\s+manual\s+2022-04\s+failed/);
    assert.match(fromTemporal.stdout, /from Temporal visibility/);
  });

  test('exit codes: 2 bad usage, 4 not found, 3 Temporal unreachable; --help on each command', async () => {
    const usage = await runCli(['run', '--period', '2022-13'], env);
    assert.equal(usage.code, 2, usage.output);
    assert.match(usage.stderr, /--period "2022-13" is not a month/);
    assert.match(usage.stderr, /usage: gudang run/);
    assert.equal((await runCli(['frobnicate'], env)).code, 2);
    assert.equal((await runCli(['status'], env)).code, 2);
    assert.equal((await runCli(['run', '--bogus'], env)).code, 2);

    const missing = await runCli(['status', 'gudang-django-apparel-1999-01'], env);
    assert.equal(missing.code, 4, missing.output);
    assert.match(missing.stderr, /no run "gudang-django-apparel-1999-01"/);
    assert.equal((await runCli(['rerun', 'no-such-run'], env)).code, 4);

    const unreachable = await runCli(['status', 'gudang-django-apparel-2022-03'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(unreachable.code, 3, unreachable.output);
    assert.match(unreachable.stderr, /cannot reach Temporal at 127\.0\.0\.1:1/);

    for (const command of ['status', 'rerun', 'schedule backfill']) {
      const helped = await runCli([...command.split(' '), '--help'], env);
      assert.equal(helped.code, 0, helped.output);
      assert.match(helped.stdout, new RegExp(`usage: gudang ${command}`));
    }
  });

  test('a full refresh after month runs loads every month and records every month in ops.partitions', async () => {
    const run = await startPipeline(h.client, h.config, { dataset: DATASET, sourceDir: SEED });
    assert.equal(run.workflowId, 'gudang-django-apparel-full');
    const summary = (await run.handle.result()) as PipelineSummary;
    assert.equal(summary.period, undefined);
    assert.equal(summary.rows['warehouse.fct_transactions'], 18322);
    const partitions = await h.db.pool.query(`SELECT period, status, rows::int FROM ops.partitions ORDER BY period`);
    assert.equal(partitions.rows.length, 12);
    assert.ok(partitions.rows.every((p) => p.status === 'loaded' && p.rows > 0));
    assert.equal(partitions.rows.reduce((sum, p) => sum + p.rows, 0), 18322);
    assert.equal(await count(`SELECT count(*)::int AS n FROM mart.dm_revenue_by_months`), 12);
  });
});
