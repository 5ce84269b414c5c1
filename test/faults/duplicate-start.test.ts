/**
 * Fault: the same run is started twice at the same moment (two operators, a retried cron job, a double
 * click): same dataset, same run key.
 *
 * Case 4: exactly one workflow execution runs and loads the data once; the second start joins it
 *         (workflow id = dataset + run key, conflict policy USE_EXISTING) instead of loading again.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { workflowIdFor } from '../../src/contracts';
import { spawnTs } from '../helpers/processes';
import type { ManagedProcess } from '../helpers/processes';
import { recordFigures } from './report';
import { DATASET, countRows, csvDataLines, historyEvents, largeDataset, runResult, scheduledActivities, startRig, waitUntil, withTimeout } from './support';
import type { FaultRig } from './support';

const ORDER_LINES = 50_000;

describe('fault: the same run is started twice at the same moment', () => {
  let rig: FaultRig;
  let dir: string;
  let lines: number;
  let worker: ManagedProcess;
  /** What each client told its user, per case: "started" or "joined". */
  const told: Record<string, string[]> = {};

  before(
    async () => {
      dir = await largeDataset(ORDER_LINES);
      lines = await csvDataLines(path.join(dir, 'order_details.csv'));
      rig = await startRig();
      worker = await rig.startWorker('worker');
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await rig?.close();
  });

  /** Everything that shows how many times the run key was executed and loaded. */
  async function executionsOf(runKey: string) {
    const workflowId = workflowIdFor(DATASET, runKey);
    // Visibility is eventually consistent: wait until the completed execution is listed, then count.
    const executions = await waitUntil(
      `the executions of ${workflowId} in visibility`,
      async () => {
        const found: { runId: string; status: string }[] = [];
        for await (const w of rig.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push({ runId: w.runId, status: w.status.name });
        return found.length > 0 && found.every((f) => f.status !== 'RUNNING') ? found : undefined;
      },
      20_000,
      250,
    );
    const { rows: loads } = await rig.db.pool.query<{ run_id: string; source: string }>(
      `SELECT run_id, source FROM ops.loads WHERE workflow_id = $1 ORDER BY source`,
      [workflowId],
    );
    // Every ingest activity (plan, chunk loads, publish: whatever the engine splits a load into) names its source.
    const scheduledLoads = scheduledActivities(await historyEvents(rig.client.workflow.getHandle(workflowId)))
      .filter((a) => a.source !== undefined)
      .map((a) => `${a.type} ${a.source}${a.chunk === undefined ? '' : ` chunk ${a.chunk}`}`);
    return { workflowId, executions, loads, scheduledLoads };
  }

  function assertRanOnce(x: Awaited<ReturnType<typeof executionsOf>>, runId: string): void {
    assert.equal(x.executions.length, 1, `exactly one execution of ${x.workflowId}: ${JSON.stringify(x.executions)}`);
    assert.equal(x.executions[0]!.runId, runId);
    assert.equal(x.executions[0]!.status, 'COMPLETED');
    assert.equal(new Set(x.loads.map((l) => l.run_id)).size, 1, 'every ledger row comes from the one execution');
    assert.equal(x.loads.length, 7, 'one set of loads in ops.loads: one row per source');
    assert.equal(new Set(x.scheduledLoads).size, x.scheduledLoads.length, `each ingest step of each source was scheduled once: ${x.scheduledLoads.join(', ')}`);
    assert.equal(new Set(x.scheduledLoads.map((l) => l.split(' ')[1])).size, 7, 'all seven sources were loaded');
  }

  test('case 4a: two concurrent starts from one client process: both get the same execution, which loads once', { timeout: 60_000 }, async (t) => {
    const runKey = 'fault-double-start';
    const input = { dataset: DATASET, sourceDir: dir, runKey };
    const [a, b] = await Promise.all([startPipeline(rig.client, rig.config, input), startPipeline(rig.client, rig.config, input)]);
    assert.equal(a.runId, b.runId, 'both starts point at the same execution');
    const [ra, rb] = await Promise.all([runResult(a.handle, 50_000), runResult(b.handle, 50_000)]);
    assert.equal(ra.runId, rb.runId);
    const x = await executionsOf(runKey);
    assertRanOnce(x, a.runId);
    assert.deepEqual(await countRows(rig.db, 'staging.order_details', 'order_detail_id'), { rows: lines, distinct: lines });
    assert.ok(worker.running);
    await recordFigures(t, 'duplicate-start-in-process', {
      orderLines: lines,
      executions: x.executions.length,
      ledgerRows: x.loads.length,
      scheduledLoads: x.scheduledLoads.length,
      clientSaid: [a.started ? 'started' : 'joined', b.started ? 'started' : 'joined'],
    });
    told['4a: startPipeline() twice at once'] = [a.started ? 'started' : 'joined', b.started ? 'started' : 'joined'];
  });

  test('case 4b: two `gudang run` client processes started at the same moment: one execution, one set of loads', { timeout: 90_000 }, async (t) => {
    const runKey = 'fault-double-cli';
    const env = { ...process.env, ...rig.workerEnv };
    const args = ['run', '--source', dir, '--dataset', DATASET, '--run-key', runKey];
    const clients = [spawnTs('client-1', 'src/cli/main.ts', args, env), spawnTs('client-2', 'src/cli/main.ts', args, env)];
    const exits = await withTimeout(Promise.all(clients.map((c) => c.exited)), 60_000, 'both clients to exit');
    for (const [i, e] of exits.entries()) assert.equal(e.code, 0, `client ${i + 1} exits 0. Output:\n${clients[i]!.output()}`);
    const said = clients.map((c) => c.output());
    const runIds = said.map((o) => /run ([0-9a-f-]{36})/i.exec(o)?.[1]);
    assert.ok(runIds[0] && runIds[1], `both clients print the run id they started or joined:\n${said.join('\n')}`);
    assert.equal(runIds[0], runIds[1], `both clients point at the same execution:\n${said.join('\n')}`);

    const summary = await runResult(rig.client.workflow.getHandle(workflowIdFor(DATASET, runKey)), 60_000);
    const x = await executionsOf(runKey);
    assertRanOnce(x, runIds[0]);
    assert.equal(summary.runId, runIds[0]);
    assert.deepEqual(await countRows(rig.db, 'staging.order_details', 'order_detail_id'), { rows: lines, distinct: lines });
    await recordFigures(t, 'duplicate-start-processes', {
      orderLines: lines,
      executions: x.executions.length,
      ledgerRows: x.loads.length,
      scheduledLoads: x.scheduledLoads.length,
      clientSaid: said.map((o) => o.split('\n')[0]),
    });
    told['4b: two `gudang run` processes'] = said.map((o) => (/already running|joined/i.test(o) ? 'joined' : /started/i.test(o) ? 'started' : '?'));
  });

  test('case 4c: of two simultaneous starts, exactly one client reports "started" and the other "joined"', { timeout: 5_000 }, () => {
    assert.equal(Object.keys(told).length, 2, 'cases 4a and 4b ran');
    for (const [when, said] of Object.entries(told)) {
      assert.deepEqual([...said].sort(), ['joined', 'started'], `${when}: the clients said ${JSON.stringify(said)}`);
    }
  });
});
