import { Worker } from '@temporalio/worker';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities';
import type { Config } from './config';
import type { Pool } from './db';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WORKFLOWS_PATH = path.join(ROOT, 'workflows', 'index.ts');

export interface WorkerDeps {
  config: Config;
  pool: Pool;
  connection: NativeConnection;
  /** Overrides for tests (e.g. a unique task queue, a prebuilt bundle). */
  options?: Partial<WorkerOptions>;
}

/** Workflows come from a prebuilt bundle when one is configured (fast start), else they are bundled now. */
function workflowSource(config: Config): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = config.GUDANG_WORKFLOW_BUNDLE;
  if (bundle && existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: createRequire(import.meta.url).resolve(WORKFLOWS_PATH) };
}

export async function createWorker({ config, pool, connection, options }: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities(pool),
    maxConcurrentActivityTaskExecutions: config.GUDANG_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.GUDANG_MAX_CONCURRENT_WORKFLOW_TASKS,
    // On SIGINT/SIGTERM, running activities get this long to finish before they are handed back for retry.
    shutdownGraceTime: '30 seconds',
    ...workflowSource(config),
    ...options,
  });
}
