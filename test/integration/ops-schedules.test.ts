import type { WorkflowExecutionInfo } from '@temporalio/client';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { SA, addMonths, periodForScheduledTime, periodRange } from '../../src/contracts';
import type { PipelineSummary } from '../../src/contracts';
import { createSchedule, describeSchedule, triggerSchedule } from '../../src/schedules';
import { cliEnv, runCli } from '../helpers/cli';
import { expectedMarts } from '../helpers/expected-marts';
import { dumpTables, startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Schedules, triggers, overlap, pause and backfills on a real Temporal dev server and a real PostgreSQL,
// driven through the library (src/schedules.ts) and the client script (src/cli) as an operator would.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const DATASET = 'django-apparel';
const SCHEDULE = 'gudang-django-apparel-monthly';

/** Order lines per month straight from the raw CSVs (plain string splitting, no pipeline code). */
async function linesPerMonth(): Promise<Map<string, number>> {
  const rows = async (file: string) => (await readFile(path.join(SEED, file), 'utf8')).trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
  const monthOf = new Map((await rows('orders.csv')).map((c) => [c[0]!, c[1]!.slice(0, 7)]));
  const out = new Map<string, number>();
  for (const c of await rows('order_details.csv')) {
    const month = monthOf.get(c[1]!);
    if (month) out.set(month, (out.get(month) ?? 0) + 1);
  }
  return out;
}

/** Visibility is eventually consistent: list until `done` accepts the result (or 15 s pass). */
async function listUntil(h: PipelineHarness, query: string, done: (rows: WorkflowExecutionInfo[]) => boolean): Promise<WorkflowExecutionInfo[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows: WorkflowExecutionInfo[] = [];
    for await (const wf of h.client.workflow.list({ query })) rows.push(wf);
    if (done(rows) || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('periods of scheduled runs', () => {
  test('the run at 01:00 on 1 April (Asia/Jakarta) loads March', () => {
    // 01:00 on 1 April in Jakarta (UTC+7) is still 31 March in UTC: the zone decides the month.
    const scheduledAt = new Date('2026-03-31T18:00:00Z');
    assert.equal(periodForScheduledTime(scheduledAt, 'Asia/Jakarta'), '2026-03');
    assert.equal(periodForScheduledTime(scheduledAt, 'UTC'), '2026-02');
    assert.equal(periodForScheduledTime(new Date('2027-01-01T00:30:00+07:00'), 'Asia/Jakarta'), '2026-12');
    assert.deepEqual(periodRange('2021-11', '2022-02'), ['2021-11', '2021-12', '2022-01', '2022-02']);
    assert.equal(addMonths('2022-01', -1), '2021-12');
    assert.throws(() => periodRange('2022-03', '2022-01'), /empty/);
  });
});

describe('schedules and backfills on a real Temporal server and PostgreSQL', () => {
  let h: PipelineHarness;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    h = await startHarness();
    await h.runWorker();
    env = cliEnv(h.config, { GUDANG_SOURCE_DIR: SEED });
  });

  after(async () => {
    await h.close();
  });

  test('a schedule triggered now produces a completed run for the month before now (in its time zone)', async () => {
    const created = await runCli(['schedule', 'create'], env);
    assert.equal(created.code, 0, created.output);
    assert.match(created.stdout, /created schedule gudang-django-apparel-monthly/);
    assert.match(created.stdout, /calendar minute=0 hour=1 dayOfMonth=1 \(monthly on the 1st at 01:00\)/);
    assert.match(created.stdout, /time zone\s+Asia\/Jakarta/);
    assert.match(created.stdout, /overlap\s+SKIP/);
    assert.match(created.stdout, /next runs\s+\d{4}-\d{2}-01 01:00:00 Asia\/Jakarta .* loads \d{4}-\d{2}/);

    const again = await runCli(['schedule', 'create'], env);
    assert.equal(again.code, 5, `a taken schedule id is a conflict\n${again.output}`);

    const outcome = await triggerSchedule(h.client, SCHEDULE);
    assert.equal(outcome.outcome, 'started');
    assert.ok(outcome.outcome === 'started');
    assert.match(outcome.workflowId, /^gudang-django-apparel-monthly-\d{4}-\d{2}-\d{2}T/);
    const handle = h.client.workflow.getHandle(outcome.workflowId, outcome.runId);
    const summary = (await handle.result()) as PipelineSummary;

    // Expected period, computed apart from the code under test: Jakarta is UTC+7 all year (no DST).
    const description = await handle.describe();
    const scheduledAt = description.typedSearchAttributes.get(SA.scheduledStartTime);
    assert.ok(scheduledAt instanceof Date, 'a scheduled run carries TemporalScheduledStartTime');
    const jakarta = new Date(scheduledAt.getTime() + 7 * 3600_000);
    const prev = new Date(Date.UTC(jakarta.getUTCFullYear(), jakarta.getUTCMonth() - 1, 1));
    const expected = `${prev.getUTCFullYear()}-${String(prev.getUTCMonth() + 1).padStart(2, '0')}`;

    assert.equal(summary.period, expected);
    assert.equal(summary.trigger, 'schedule');
    assert.equal(description.typedSearchAttributes.get(SA.period), expected, 'the workflow publishes its period for the Web UI');
    assert.equal(description.typedSearchAttributes.get(SA.trigger), 'schedule');
    assert.equal(description.typedSearchAttributes.get(SA.dataset), DATASET);
    assert.equal(description.memo?.period, expected);

    const { rows } = await h.db.pool.query(`SELECT workflow_id, trigger, period, status FROM ops.pipeline_runs WHERE run_id = $1`, [outcome.runId]);
    assert.deepEqual(rows, [{ workflow_id: outcome.workflowId, trigger: 'schedule', period: expected, status: 'completed' }]);
    const partition = await h.db.pool.query(`SELECT status, last_run_id FROM ops.partitions WHERE dataset = $1 AND period = $2`, [DATASET, expected]);
    assert.deepEqual(partition.rows, [{ status: 'loaded', last_run_id: outcome.runId }]);
  });

  test('under SKIP, a trigger while a run is in progress is skipped', async () => {
    // A schedule on a task queue no worker polls: its first run stays in progress as long as we like.
    const idle = { ...h.config, TEMPORAL_TASK_QUEUE: `${h.config.TEMPORAL_TASK_QUEUE}-idle` };
    await createSchedule(h.client, idle, { dataset: DATASET, sourceDir: SEED, scheduleId: 'overlap-probe' });
    try {
      const first = await triggerSchedule(h.client, 'overlap-probe');
      assert.equal(first.outcome, 'started');
      const deadline = Date.now() + 10_000;
      while ((await describeSchedule(h.client, 'overlap-probe'))!.info.runningActions.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }

      const second = await runCli(['schedule', 'trigger', 'overlap-probe'], cliEnv(idle));
      assert.equal(second.code, 0, second.output);
      assert.match(second.stdout, /skipped, a run of this schedule is still in progress \(overlap policy SKIP\)/, second.output);

      const d = (await describeSchedule(h.client, 'overlap-probe'))!;
      assert.equal(d.info.numActionsTaken, 1);
      assert.equal(d.info.numActionsSkippedOverlap, 1);
      assert.equal(d.info.runningActions.length, 1);
      const runs = await listUntil(h, `WorkflowId STARTS_WITH 'overlap-probe-'`, (r) => r.length >= 1);
      assert.equal(runs.length, 1, 'only one run was started');
      if (first.outcome === 'started') await h.client.workflow.getHandle(first.workflowId).terminate('test cleanup');
    } finally {
      await h.client.schedule.getHandle('overlap-probe').delete();
    }
  });

  test('pause and unpause change what describe shows', async () => {
    const paused = await runCli(['schedule', 'pause', '--note', 'source system migration until the 3rd'], env);
    assert.equal(paused.code, 0, paused.output);
    let d = (await describeSchedule(h.client, SCHEDULE))!;
    assert.equal(d.state.paused, true);
    assert.equal(d.state.note, 'source system migration until the 3rd');
    const described = await runCli(['schedule', 'describe'], env);
    assert.equal(described.code, 0, described.output);
    assert.match(described.stdout, /state\s+PAUSED/);
    assert.match(described.stdout, /note\s+source system migration until the 3rd/);
    assert.match(described.stdout, /next runs\s+\(none while paused\)/);
    assert.match(described.stdout, /runs\s+1 started, 0 skipped/);

    const resumed = await runCli(['schedule', 'unpause', '--note', 'back'], env);
    assert.equal(resumed.code, 0, resumed.output);
    d = (await describeSchedule(h.client, SCHEDULE))!;
    assert.equal(d.state.paused, false);
    assert.equal(d.state.note, 'back');
    assert.match((await runCli(['schedule', 'describe'], env)).stdout, /state\s+active[\s\S]*next runs\s+\d{4}-\d{2}-01 01:00:00 Asia\/Jakarta/);

    const listed = await runCli(['schedule', 'list'], env);
    assert.match(listed.stdout, /gudang-django-apparel-monthly\s+django-apparel\s+active/, listed.output);
    const missing = await runCli(['schedule', 'pause', 'no-such-schedule'], env);
    assert.equal(missing.code, 4, missing.output);
  });

  test('update changes the spec, time zone and policies, keeping the rest', async () => {
    const updated = await runCli(['schedule', 'update', '--cron', '30 2 1 * *', '--timezone', 'UTC', '--overlap', 'buffer_one', '--pause-on-failure'], env);
    assert.equal(updated.code, 0, updated.output);
    const d = (await describeSchedule(h.client, SCHEDULE))!;
    assert.equal(d.spec.timezone, 'UTC');
    assert.equal(d.policies.overlap, 'BUFFER_ONE');
    assert.equal(d.policies.pauseOnFailure, true);
    assert.equal((d.action.args?.[0] as { timezone?: string }).timezone, 'UTC', 'runs take their month in the new zone');
    assert.equal((d.action.args?.[0] as { sourceDir?: string }).sourceDir, SEED);
    assert.ok(d.info.nextActionTimes.every((t) => t.getUTCDate() === 1 && t.getUTCHours() === 2 && t.getUTCMinutes() === 30));
    const bad = await runCli(['schedule', 'update', '--timezone', 'Mars/Olympus'], env);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.stderr, /unknown time zone "Mars\/Olympus"/);
  });

  test('a backfill of 2022-01..2022-03 gives exactly three runs, one per month, in order, and those months in the marts', async () => {
    const result = await runCli(['schedule', 'backfill', '--from', '2022-01', '--to', '2022-03', '--wait'], env);
    assert.equal(result.code, 0, result.output);
    assert.match(result.stdout, /started backfill gudang-django-apparel-backfill-2022-01-to-2022-03 .*: 3 months, 2022-01, 2022-02, 2022-03/);
    assert.match(result.stdout, /backfill gudang-django-apparel-backfill-2022-01-to-2022-03 completed/);

    const runs = await listUntil(h, `WorkflowType = 'pipelineWorkflow' AND GudangTrigger = 'backfill'`, (r) => r.length >= 3);
    assert.equal(runs.length, 3, runs.map((r) => r.workflowId).join(', '));
    const byStart = [...runs].sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    assert.deepEqual(
      byStart.map((r) => [r.workflowId, r.typedSearchAttributes.get(SA.period), r.status.name]),
      [
        ['gudang-django-apparel-2022-01', '2022-01', 'COMPLETED'],
        ['gudang-django-apparel-2022-02', '2022-02', 'COMPLETED'],
        ['gudang-django-apparel-2022-03', '2022-03', 'COMPLETED'],
      ],
    );
    for (let i = 1; i < byStart.length; i++) {
      assert.ok(byStart[i]!.startTime >= byStart[i - 1]!.closeTime!, 'each month starts after the previous one has finished');
    }

    const expected = await expectedMarts(SEED);
    const months = await h.db.pool.query(
      `SELECT to_char(month, 'YYYY-MM') AS month, total_revenue::float8, total_orders::int, total_quantity::int, average_order_value::float8
       FROM mart.dm_revenue_by_months ORDER BY month`,
    );
    assert.deepEqual(months.rows, expected.months.filter((m) => ['2022-01', '2022-02', '2022-03'].includes(m.month)));

    const lines = await linesPerMonth();
    const partitions = await h.db.pool.query(`SELECT period, status, rows::int FROM ops.partitions WHERE dataset = $1 AND period LIKE '2022-%' ORDER BY period`, [DATASET]);
    assert.deepEqual(
      partitions.rows,
      ['2022-01', '2022-02', '2022-03'].map((p) => ({ period: p, status: 'loaded', rows: lines.get(p) })),
    );
    const fact = await h.db.pool.query(`SELECT count(*)::int AS n FROM warehouse.fct_transactions`);
    assert.equal(fact.rows[0].n, lines.get('2022-01')! + lines.get('2022-02')! + lines.get('2022-03')!);
  });

  test('running a period again replaces its rows and never duplicates them', async () => {
    const before = await dumpTables(h.db.pool);
    const run = await startPipeline(h.client, h.config, { dataset: DATASET, sourceDir: SEED, period: '2022-02' });
    assert.equal(run.workflowId, 'gudang-django-apparel-2022-02', 'a manual run of a month has the same id as its backfill run');
    const summary = (await run.handle.result()) as PipelineSummary;
    assert.equal(summary.period, '2022-02');
    const afterRun = await dumpTables(h.db.pool);
    for (const t of ['warehouse.fct_transactions', 'mart.dm_revenue_by_months', 'mart.dm_perfomance_product_by_cities', 'mart.dm_perfomance_product_by_cities_monthly']) {
      assert.deepEqual(afterRun[t], before[t], `${t} changed when 2022-02 was loaded again`);
    }
    const history = await h.db.pool.query(`SELECT count(*)::int AS n FROM ops.pipeline_runs WHERE period = '2022-02' AND status = 'completed'`);
    assert.equal(history.rows[0].n, 2, 'both loads of 2022-02 are in the run history');
  });
});
