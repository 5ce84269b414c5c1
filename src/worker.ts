import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig, redactUrl, requireDatabaseUrl } from './config';
import { createPool } from './db';
import { migrate } from './warehouse/migrate';
import { createWorker } from './worker-factory';

// The long-running worker: applies migrations, then polls the task queue until SIGINT/SIGTERM.

async function main(): Promise<void> {
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
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createWorker({ config, pool, connection });
  console.log(
    `gudang worker ready: task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}), ` +
      `database ${redactUrl(databaseUrl)}, up to ${config.GUDANG_MAX_CONCURRENT_ACTIVITIES} activities at once`,
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
