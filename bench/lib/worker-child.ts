/**
 * A gudang worker in its own process, for the end-to-end benchmark: the parent reads the worker's peak RSS
 * from its result line. Configured by the same environment as the real worker (DATABASE_URL, TEMPORAL_*,
 * GUDANG_*). Prints `{"ready":true}` once polling, and on SIGTERM shuts down and prints its peak RSS.
 *
 * BENCH_WORKER_ROLE=workflows runs only workflow tasks (no activities registered), =activities only activity
 * tasks (no workflow code loaded); default both, as `npm run worker` does. BENCH_WORKER_OPTIONS (JSON) adds
 * WorkerOptions, e.g. '{"workflowThreadPoolSize":1}', to try memory settings without touching the project.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig, requireDatabaseUrl } from '../../src/config';
import { createPool } from '../../src/db';
import { createWorker } from '../../src/worker-factory';
import { peakRssKiB, rssKiB } from './proc';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const pool = createPool(requireDatabaseUrl(config), config.GUDANG_DB_POOL_SIZE);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const role = process.env.BENCH_WORKER_ROLE ?? 'all';
  const options =
    role === 'workflows' ? { activities: {} } : role === 'activities' ? { workflowBundle: undefined, workflowsPath: undefined } : {};
  const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS ?? '{}') as Record<string, unknown>;
  const worker = await createWorker({ config, pool, connection, options: { ...options, ...extra } });
  const running = worker.run();
  // the worker polls once run() has been called; report readiness and the RSS before any task
  const idleRssKiB = rssKiB();
  process.stdout.write(`${JSON.stringify({ ready: true, idleRssKiB })}\n`);
  await running;
  await connection.close();
  await pool.end();
  process.stdout.write(`${JSON.stringify({ stopped: true, idleRssKiB, peakRssKiB: peakRssKiB() })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
