import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { failureMessage, startPipeline } from '../../src/client';
import type { PipelineInput, PipelineSummary } from '../../src/contracts';
import { historyEvents, scheduledActivities } from '../faults/support';
import type { ScheduledActivity } from '../faults/support';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Issue 9, write-audit-publish: a run builds every layer in gudang_build, its gates check it there, and only a run
// whose every gate passed publishes, all tables in one transaction. A run that fails leaves every published table
// byte-for-byte as it was, and readers keep their grants across a publish.

const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');
const READER = `gudang_reader_${randomBytes(4).toString('hex')}`;
const DASHBOARD_ROLE_SQL = path.resolve(import.meta.dirname, '../../sql/roles/dashboard_role.sql');

/** Per published warehouse and mart table: its OID and an md5 over every row (ordered), i.e. "exactly this table". */
async function checksums(h: PipelineHarness): Promise<Record<string, { oid: string; md5: string; rows: number }>> {
  const { rows: tables } = await h.db.pool.query<{ t: string; oid: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS t, c.oid::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('warehouse', 'mart') AND c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  const out: Record<string, { oid: string; md5: string; rows: number }> = {};
  for (const { t, oid } of tables) {
    const { rows } = await h.db.pool.query<{ md5: string; n: number }>(
      `SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS md5, count(*)::int AS n FROM ${t} AS x`,
    );
    out[t] = { oid, md5: rows[0]!.md5, rows: rows[0]!.n };
  }
  return out;
}

const buildTables = async (h: PipelineHarness) =>
  (await h.db.pool.query<{ relname: string }>(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'gudang_build'`)).rows;

/** The activities a run scheduled (test/faults/support.ts), each with how it closed. */
async function runActivities(handle: WorkflowHandle) {
  const events = await historyEvents(handle);
  const closed = new Map<string, string>();
  for (const e of events) {
    if (e.activityTaskCompletedEventAttributes) closed.set(String(e.activityTaskCompletedEventAttributes.scheduledEventId), 'completed');
    if (e.activityTaskFailedEventAttributes) closed.set(String(e.activityTaskFailedEventAttributes.scheduledEventId), 'failed');
  }
  return scheduledActivities(events).map((a) => ({ ...a, outcome: closed.get(a.scheduledEventId) }));
}

/** The facts gate and the marts' first builds were scheduled by one workflow task: the gate ran beside them (issue 14). */
function assertGateBesideMarts(activities: ScheduledActivity[]): void {
  const gate = activities.find((a) => a.type === 'checkQuality' && a.layer === 'facts');
  assert.ok(gate, 'the facts gate ran');
  const beside = activities.filter((a) => a.type === 'buildModel' && a.layer === 'marts' && a.workflowTaskEventId === gate.workflowTaskEventId).map((a) => a.model);
  assert.deepEqual(beside.sort(), ['dm_perfomance_product_by_cities_monthly', 'dm_revenue_by_months'], 'marts scheduled with the facts gate');
}

describe('write, audit, publish', () => {
  let h: PipelineHarness;

  before(async () => {
    h = await startHarness();
    await h.runWorker();
  });

  after(async () => {
    await h.db.pool.query(`DROP OWNED BY ${READER}; DROP ROLE IF EXISTS ${READER}`).catch(() => undefined);
    await h.close();
  });

  const run = async (input: Partial<PipelineInput>) => {
    const started = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: SEED, ...input });
    return { runId: started.runId, handle: started.handle, result: started.handle.result() as Promise<PipelineSummary> };
  };

  test('a run publishes every table in a last step, and readers keep seeing them', async () => {
    const started = await run({ runKey: 'first' });
    const first = await started.result;
    assert.equal(first.steps.at(-1)?.step, 'publish warehouse');
    const activities = await runActivities(started.handle);
    assertGateBesideMarts(activities);
    const publish = activities.find((a) => a.type === 'publishWarehouse');
    assert.ok(
      publish && activities.filter((a) => a.type === 'checkQuality').every((g) => g.outcome === 'completed' && Number(g.scheduledEventId) < Number(publish.scheduledEventId)),
      'every gate passed before the publish',
    );
    assert.deepEqual(await buildTables(h), [], 'nothing is left behind in gudang_build');

    await h.db.pool.query(`CREATE ROLE ${READER} NOLOGIN`);
    await h.db.pool.query(`GRANT USAGE ON SCHEMA warehouse, mart TO ${READER}`);
    await h.db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA warehouse, mart TO ${READER}`);
    // and the project's own read-only role template, as an operator applies it after the first run
    await h.db.pool.query(await readFile(DASHBOARD_ROLE_SQL, 'utf8'));
    const before = await checksums(h);

    const second = await (await run({ runKey: 'second' })).result;
    const after = await checksums(h);
    assert.deepEqual(Object.keys(after), Object.keys(before));
    for (const t of Object.keys(before)) {
      assert.notEqual(after[t]!.oid, before[t]!.oid, `${t} was replaced by the run's build`);
      assert.equal(after[t]!.md5, before[t]!.md5, `${t}: same files, same rows`);
    }
    const steps = await h.db.pool.query(`SELECT step, kind, status FROM ops.step_runs WHERE run_id = $1 AND step = 'publish warehouse'`, [second.runId]);
    assert.deepEqual(steps.rows, [{ step: 'publish warehouse', kind: 'publish', status: 'completed' }]);

    // the read-only roles still read every published table they were granted, after the swap
    const client = await h.db.pool.connect();
    try {
      for (const [role, tables] of [
        [READER, Object.keys(after)],
        ['gudang_dashboard', Object.keys(after).filter((t) => t.startsWith('mart.'))],
      ] as const) {
        await client.query(`SET ROLE ${role}`);
        for (const t of tables) {
          const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
          assert.equal(rows[0]!.n, after[t]!.rows, `${role} reads ${t}`);
        }
        await assert.rejects(client.query(`SELECT 1 FROM gudang_build.nothing`), /permission denied for schema gudang_build|does not exist/);
        await client.query('RESET ROLE');
      }
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
  });

  test('a run whose last gate fails leaves every published table byte-for-byte as it was', async () => {
    const before = await checksums(h);
    // An order line whose order is not in staging: the fact keeps it (unknown date) and the facts gate passes,
    // but the revenue mart cannot place it in a month, so the marts gate, the run's last, fails.
    await h.db.pool.query(`INSERT INTO staging.order_details (order_detail_id, order_id, product_id, qty, item_price, unit_sales) VALUES (9999001, 9999001, 1, 1, 10, 10)`);
    try {
      const { runId, result } = await run({ runKey: 'failing', fromStep: 'dimensions' });
      const err = await result.then(
        () => assert.fail('the run should fail its marts gate'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(failureMessage(err), /check marts: quality gate failed after layer marts: dm_revenue_by_months_reconciles_with_fact/);

      assert.deepEqual(await checksums(h), before, 'no published table changed');
      assert.deepEqual(await buildTables(h), [], "the failed run's build tables were discarded");
      const steps = await h.db.pool.query<{ step: string; status: string }>(`SELECT step, status FROM ops.step_runs WHERE run_id = $1 ORDER BY seq`, [runId]);
      const status = Object.fromEntries(steps.rows.map((s) => [s.step, s.status]));
      assert.equal(status['build fct_transactions'], 'completed');
      assert.equal(status['check facts'], 'completed');
      assert.equal(status['check marts'], 'failed');
      assert.equal(status['publish warehouse'], 'pending');
    } finally {
      await h.db.pool.query(`DELETE FROM staging.order_details WHERE order_detail_id = 9999001`);
    }
  });
  test('a run whose facts gate fails while the marts build beside it fails with that gate and publishes nothing', async () => {
    // The published dim_products loses its unknown member (-1) and staging gets a line of a product it does not know.
    // A rerun from the facts (the dimensions are not rebuilt) gives that line product_key -1: the facts gate's
    // relationship check fails while the marts, which do not need the member, build beside it.
    const unknown = await h.db.pool.query(`DELETE FROM warehouse.dim_products WHERE product_key = -1 RETURNING *`);
    assert.equal(unknown.rowCount, 1, 'dim_products has its unknown member');
    const order = (await h.db.pool.query<{ id: string }>(`SELECT order_id::text AS id FROM staging.orders ORDER BY order_id LIMIT 1`)).rows[0]!.id;
    await h.db.pool.query(`INSERT INTO staging.order_details (order_detail_id, order_id, product_id, qty, item_price, unit_sales) VALUES (9999002, $1, 999999, 1, 10, 10)`, [order]);
    try {
      const before = await checksums(h);
      const { runId, handle, result } = await run({ runKey: 'facts-gate-fails', fromStep: 'facts' });
      const err = await result.then(
        () => assert.fail('the run should fail its facts gate'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(failureMessage(err), /^check facts: quality gate failed after layer facts: .*relationship\(product_key -> .*dim_products/);

      const activities = await runActivities(handle);
      assertGateBesideMarts(activities);
      assert.equal(activities.find((a) => a.type === 'checkQuality' && a.layer === 'facts')?.outcome, 'failed');
      assert.deepEqual(activities.filter((a) => a.type === 'checkQuality').map((a) => a.layer), ['facts'], 'the marts gate did not run');
      assert.ok(!activities.some((a) => a.type === 'publishWarehouse'), 'nothing was published');
      assert.deepEqual(await checksums(h), before, 'no published table changed');
      assert.deepEqual(await buildTables(h), [], "the failed run's build tables were discarded");
      const steps = await h.db.pool.query<{ step: string; status: string }>(`SELECT step, status FROM ops.step_runs WHERE run_id = $1 ORDER BY seq`, [runId]);
      const status = Object.fromEntries(steps.rows.map((s) => [s.step, s.status]));
      assert.equal(status['check facts'], 'failed');
      assert.equal(status['build dm_revenue_by_months'], 'completed', 'the builds beside the gate settled before the run failed');
      assert.equal(status['build dm_perfomance_product_by_cities'], 'completed');
      assert.equal(status['check marts'], 'pending');
      assert.equal(status['publish warehouse'], 'pending');
    } finally {
      await h.db.pool.query(`DELETE FROM staging.order_details WHERE order_detail_id = 9999002`);
      const row = unknown.rows[0] as Record<string, unknown>;
      const cols = Object.keys(row);
      await h.db.pool.query(
        `INSERT INTO warehouse.dim_products (${cols.join(', ')}) VALUES (${cols.map((_, k) => `$${k + 1}`).join(', ')})`,
        cols.map((c) => row[c]),
      );
    }
  });
});
