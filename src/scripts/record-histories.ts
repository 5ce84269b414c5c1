import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startBackfill, startPipeline } from '../client';
import { loadConfig } from '../config';
import { createPool } from '../db';
import { startDevServer } from '../dev/temporal-server';
import { createSchedule, triggerSchedule } from '../schedules';
import { migrate } from '../warehouse/migrate';
import { createWorker } from '../worker-factory';

// Records fresh histories of the workflows for test/replay (Worker.runReplayHistory): a month's run, a scheduled
// run (its period from TemporalScheduledStartTime) and a two-month backfill (child workflows). Run it after a
// deliberate, replay-breaking change to the workflows, and commit the files it writes.
//
//   tsx src/scripts/record-histories.ts --database-url postgres://root@127.0.0.1:5432/scratch [--source DIR] [--out DIR]
//
// It starts its own Temporal dev server; the database must be a scratch one: the runs rebuild its warehouse.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'database-url': { type: 'string' },
      source: { type: 'string', default: path.resolve(ROOT, '../shared/datasets/django-apparel') },
      out: { type: 'string', default: path.join(ROOT, 'test/replay/histories') },
    },
  });
  if (!values['database-url']) throw new Error('--database-url of a scratch database is required (its warehouse gets rebuilt)');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer({ headless: true });
  const pool = createPool(values['database-url'], loadConfig().GUDANG_DB_POOL_SIZE);
  const connection = await Connection.connect({ address: server.address });
  const native = await NativeConnection.connect({ address: server.address });
  try {
    await migrate(pool);
    const config = loadConfig({
      ...process.env,
      DATABASE_URL: values['database-url'],
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: server.namespace,
      TEMPORAL_TASK_QUEUE: `gudang-record-${randomUUID().slice(0, 8)}`,
    });
    const client = new Client({ connection, namespace: server.namespace });
    const worker = await createWorker({ config, pool, connection: native });
    await mkdir(values.out, { recursive: true });
    const save = async (name: string, workflowId: string, runId: string) => {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const file = path.join(values.out, `${name}.json`);
      await writeFile(file, `${historyToJSON(history)}\n`);
      console.log(`${path.relative(process.cwd(), file)}: ${workflowId} (${history.events?.length ?? 0} events)`);
    };
    await worker.runUntil(async () => {
      const month = await startPipeline(client, config, { dataset: 'django-apparel', sourceDir: values.source, period: '2022-03' });
      await month.handle.result();
      await save('pipeline-period-run', month.workflowId, month.runId);

      await createSchedule(client, config, { dataset: 'django-apparel', sourceDir: values.source });
      const scheduled = await triggerSchedule(client, 'gudang-django-apparel-monthly');
      if (scheduled.outcome !== 'started') throw new Error(`the schedule did not start a run: ${scheduled.outcome}`);
      await client.workflow.getHandle(scheduled.workflowId, scheduled.runId).result();
      await save('pipeline-scheduled-run', scheduled.workflowId, scheduled.runId);

      const backfill = await startBackfill(client, config, { dataset: 'django-apparel', sourceDir: values.source, from: '2022-01', to: '2022-02' });
      await backfill.handle.result();
      await save('backfill-two-months', backfill.workflowId, backfill.runId);
    });
  } finally {
    await native.close();
    await connection.close();
    await pool.end();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`record-histories failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
