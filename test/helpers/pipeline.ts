import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { startPipeline } from '../../src/client';
import type { PipelineInput, PipelineSummary } from '../../src/contracts';
import type { Pool } from '../../src/db';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { createWorker, WORKFLOWS_PATH } from '../../src/worker-factory';
import { migrate } from '../../src/warehouse/migrate';
import type { DevServer } from '../../src/dev/temporal-server';
import { createTestDatabase } from './db';
import { startTestTemporal } from './temporal';

/** One real Temporal dev server, one fresh database, one bundled workflow code, per test file. */
export interface PipelineHarness {
  server: DevServer;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  config: Config;
  client: Client;
  workflowCode: string;
  /** A worker on this harness's task queue (registered activities are the real ones). */
  newWorker(overrides?: Partial<Config>): Promise<Worker>;
  /** A worker as newWorker makes it, already running; close() shuts it down and waits for it. */
  runWorker(overrides?: Partial<Config>): Promise<Worker>;
  /** Starts a pipeline run on this harness and waits for its summary (a failed run rejects with WorkflowFailedError). */
  runPipeline(input: PipelineInput): Promise<PipelineSummary>;
  /** Stops the workers runWorker started, then the connections, the database and the dev server. */
  close(): Promise<void>;
}

let runtimeInstalled = false;

/** Worker logs at WARN and above: expected failures in tests would otherwise flood the output. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger(process.env.GUDANG_TEST_LOG_LEVEL === 'debug' ? 'DEBUG' : 'ERROR') });
}

export async function startHarness(): Promise<PipelineHarness> {
  installQuietRuntime();
  const [server, db, bundle] = await Promise.all([startTestTemporal(), createTestDatabase(), bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger })]);
  await migrate(db.pool);
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TEMPORAL_UI_URL: server.uiUrl ?? 'http://127.0.0.1:8233',
    TEMPORAL_TASK_QUEUE: `gudang-test-${randomUUID().slice(0, 8)}`,
  });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const nativeConnections: NativeConnection[] = [];
  const running: { worker: Worker; done: Promise<void> }[] = [];
  const harness: PipelineHarness = {
    server,
    db,
    config,
    client,
    workflowCode: bundle.code,
    async newWorker(overrides = {}) {
      const nativeConnection = await NativeConnection.connect({ address: server.address });
      nativeConnections.push(nativeConnection);
      return createWorker({
        config: { ...config, ...overrides },
        pool: db.pool,
        connection: nativeConnection,
        options: { workflowBundle: { code: bundle.code } },
      });
    },
    async runWorker(overrides = {}) {
      const worker = await harness.newWorker(overrides);
      running.push({ worker, done: worker.run() });
      return worker;
    },
    async runPipeline(input) {
      return (await (await startPipeline(client, config, input)).handle.result()) as PipelineSummary;
    },
    async close() {
      for (const { worker } of running) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.all(running.map((r) => r.done));
      await connection.close();
      for (const c of nativeConnections) await c.close();
      await db.drop();
      await server.stop();
    },
  };
  return harness;
}

const noop = () => undefined;
export const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

/** Every row of every table in `schemas` (default Django Apparel's), as ordered JSON text: for "nothing changed" checks. */
export async function dumpTables(pool: Pool, schemas: readonly string[] = ['staging', 'warehouse', 'mart']): Promise<Record<string, string[]>> {
  const { rows } = await pool.query<{ t: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables
     WHERE table_schema = ANY ($1::text[]) AND table_type = 'BASE TABLE' ORDER BY 1`,
    [schemas],
  );
  const out: Record<string, string[]> = {};
  for (const { t } of rows) {
    const res = await pool.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM ${t} x ORDER BY 1`);
    out[t] = res.rows.map((r) => r.r);
  }
  return out;
}
