import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { failureMessage, startPipeline, webUiLink } from './client';
import { formatHeadlines } from './cli/headlines';
import { formatSummary, formatMs } from './cli/format';
import { loadConfig, redactUrl } from './config';
import type { PipelineSummary } from './contracts';
import { getDataset } from './datasets';
import { createPool } from './db';
import { parseRejectBudget } from './ingest/budget';
import { startEmbeddedPostgres } from './dev/embedded-postgres';
import { startDevServer } from './dev/temporal-server';
import { migrate } from './warehouse/migrate';
import { createWorker } from './worker-factory';
import { startDashboard } from './dashboard/server';

// `npm run demo [-- --source DIR] [--keep-open]`: everything in one process.
// Uses DATABASE_URL and TEMPORAL_ADDRESS when set; otherwise starts an embedded PostgreSQL and a
// Temporal dev server (with its Web UI), runs a worker in-process, runs the pipeline, prints the marts.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const DEMO_USAGE = `usage: npm run demo [-- --source DIR] [--dataset NAME] [--reject-budget N|P%] [--allow-empty] [--keep-open]

Runs the whole pipeline once on DIR (default: the dataset's sample in the repository, e.g. dataset/) and prints the datamarts' headline figures.
Starts an embedded PostgreSQL unless DATABASE_URL is set, and a Temporal dev server with its Web UI unless
TEMPORAL_ADDRESS is set. --reject-budget lets each source quarantine up to N rows (or P% of its rows) in
ops.rejected_rows instead of failing (default: each source's own budget, 0 for the sample dataset).
--allow-empty lets an empty or header-only source empty its table (else such a delivery fails the run).
--keep-open keeps everything running afterwards and serves the dashboard (Ctrl+C to stop) so you can browse the run.`;

async function main(): Promise<number> {
  const t0 = Date.now();
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        source: { type: 'string' },
        dataset: { type: 'string' },
        'keep-open': { type: 'boolean', default: false },
        'reject-budget': { type: 'string' },
        'allow-empty': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
    if (values['reject-budget'] !== undefined) parseRejectBudget(values['reject-budget'], '--reject-budget');
  } catch (err) {
    // a usage error: one line, then the usage; never a stack trace
    console.error(`${(err as Error).message.trim().replace(/\s*\n\s*/g, ' ')}\n\n${DEMO_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(DEMO_USAGE);
    return 0;
  }
  const rejectBudget = values['reject-budget'];
  const allowEmpty = values['allow-empty'] ? true : undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  };
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
    const env = { ...process.env };
    if (!env.DATABASE_URL) {
      console.log('DATABASE_URL not set: starting an embedded PostgreSQL ...');
      const pg = await startEmbeddedPostgres();
      cleanups.push(pg.stop);
      env.DATABASE_URL = pg.url;
    }
    if (!env.TEMPORAL_ADDRESS) {
      console.log('TEMPORAL_ADDRESS not set: starting a Temporal dev server ...');
      const server = await startDevServer({ headless: false });
      cleanups.push(server.stop);
      env.TEMPORAL_ADDRESS = server.address;
      if (server.uiUrl) env.TEMPORAL_UI_URL = server.uiUrl;
      env.TEMPORAL_NAMESPACE = server.namespace;
      console.log(`Temporal dev server at ${server.address}${server.uiUrl ? `, Web UI at ${server.uiUrl}` : ''}`);
    }
    const config = loadConfig(env);
    const dataset = getDataset(values.dataset ?? config.GUDANG_DATASET);
    const pool = createPool(env.DATABASE_URL!, config.GUDANG_DB_POOL_SIZE);
    cleanups.push(() => pool.end());
    await migrate(pool);

    const nativeConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    cleanups.push(() => nativeConnection.close());
    const worker = await createWorker({ config, pool, connection: nativeConnection });
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });

    let summary: PipelineSummary | undefined;
    let failure: unknown;
    await worker.runUntil(async () => {
      const run = await startPipeline(client, config, { dataset: dataset.name, sourceDir: values.source ?? path.join(ROOT, dataset.defaultSource), runKey: 'demo', rejectBudget, allowEmpty });
      console.log(`pipeline ${run.workflowId} started; watch it at ${webUiLink(config, run.workflowId, run.runId)}`);
      try {
        summary = (await run.handle.result()) as PipelineSummary;
      } catch (err) {
        failure = err;
      }
    });
    if (failure || !summary) {
      console.error(`\ndemo failed: ${failureMessage(failure)}`);
      return 1;
    }
    console.log(`\n${formatSummary(summary)}\n`);
    console.log(await formatHeadlines(pool, dataset));
    console.log(`\ndemo finished in ${formatMs(Date.now() - t0)} (including start-up)`);
    if (values['keep-open']) {
      const dashboardOpts = { databaseUrl: env.DATABASE_URL!, temporalUiUrl: config.TEMPORAL_UI_URL, temporalNamespace: config.TEMPORAL_NAMESPACE };
      // 8300 as `npm run dashboard`, or any free port when that one is taken
      const dashboard = await startDashboard({ ...dashboardOpts, port: 8300 }).catch(() => startDashboard({ ...dashboardOpts, port: 0 }));
      cleanups.push(dashboard.close);
      console.log(`\nTemporal Web UI: ${config.TEMPORAL_UI_URL}\ndashboard:       ${dashboard.url}`);
      console.log(`keeping PostgreSQL (${redactUrl(env.DATABASE_URL!)}), Temporal and the dashboard up; Ctrl+C to stop`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return 0;
  } catch (err) {
    console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

void main().then((code) => process.exit(code));
