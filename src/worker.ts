import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { ensureSearchAttributes } from './client';
import { loadConfig, redactUrl, requireDatabaseUrl } from './config';
import { createPool } from './db';
import { migrate } from './warehouse/migrate';
import { createWorker, resolveWorkflowSource } from './worker-factory';

// The long-running worker: applies migrations, makes sure the search attributes exist, then polls the task
// queue until SIGINT/SIGTERM. On a signal it stops taking work; activities in flight get the grace time to
// finish, after which they are cancelled and handed back to the server to be retried on another worker.

async function main(): Promise<void> {
  const started = Date.now();
  const config = loadConfig();
  const databaseUrl = requireDatabaseUrl(config);
  Runtime.install({
    logger: new DefaultLogger(config.GUDANG_LOG_LEVEL.toUpperCase() as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const pool = createPool(databaseUrl, config.GUDANG_DB_POOL_SIZE);
  const applied = await migrate(pool);
  if (applied.length > 0) console.log(`migrations applied: ${applied.join(', ')}`);

  // Servers other than the dev server (docker-compose, a cluster) may lack gudang's search attributes.
  const admin = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    const added = await ensureSearchAttributes(admin, config.TEMPORAL_NAMESPACE);
    if (added.length > 0) console.log(`search attributes registered: ${added.join(', ')}`);
  } catch (err) {
    // Runs started without them fail at start; the message names the missing ones and the command that adds them.
    console.warn(`search attributes not checked: ${(err as Error).message}`);
  } finally {
    await admin.close();
  }

  const source = resolveWorkflowSource(config);
  if (source.warning) console.warn(source.warning);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createWorker({ config, pool, connection, options: source.options });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      const inFlight = worker.getStatus().numInFlightActivities;
      console.log(
        `${signal}: shutting down; ${inFlight} activit${inFlight === 1 ? 'y' : 'ies'} in flight get up to 30 s to finish, ` +
          'then they are handed back to the server for another worker',
      );
    });
  }
  console.log(
    `gudang worker ready in ${((Date.now() - started) / 1000).toFixed(1)} s: task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS} ` +
      `(namespace ${config.TEMPORAL_NAMESPACE}), database ${redactUrl(databaseUrl)}, up to ${config.GUDANG_MAX_CONCURRENT_ACTIVITIES} activities ` +
      `and ${config.GUDANG_MAX_CONCURRENT_WORKFLOW_TASKS} workflow tasks at once, workflows from ${source.description}`,
  );
  try {
    await worker.run(); // resolves after a shutdown signal, once in-flight tasks are done or handed back
  } finally {
    await connection.close();
    await pool.end();
    console.log('gudang worker stopped');
  }
}

main().catch((err) => {
  console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
