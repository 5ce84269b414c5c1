import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import type { DatasetSpec } from '../../src/datasets';
import type { PipelineSummary } from '../../src/contracts';
import { startDevServer } from '../../src/dev/temporal-server';
import { runBaseline, writeBaselineScript } from './baseline';
import { compiledChild } from './build';
import type { BaselineSample } from './baseline';
import { analyseHistory } from './history';
import type { RunTimings } from './history';
import { check, loadAvg1, runProcess } from './proc';
import { resetWarehouse } from './transform';
import { WORKER_NODE_FLAGS } from './workers';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');

export interface E2eSample {
  repeat: number;
  /** Client-side: start() to result(). */
  clientMs: number;
  loadAvg: number;
  timings: RunTimings;
  /** The worker process; with split workers, the activity worker (the one that ingests and transforms). */
  worker: { idleRssKiB: number; peakRssKiB: number };
  /** With split workers: the workflow-only worker. */
  workflowWorker?: { idleRssKiB: number; peakRssKiB: number };
  summary: Pick<PipelineSummary, 'durationMs' | 'rows'>;
}

export interface E2eResults {
  /** Workflows and activities in two worker processes (BENCH_WORKER_ROLE) instead of one. */
  split?: boolean;
  temporalStartupMs?: number;
  maxConcurrentActivities: number;
  samples: E2eSample[];
  /** The hand-written psql session over the same files, once after each project run (bench/lib/baseline.ts). */
  baseline?: BaselineSample[];
}

interface WorkerHandle {
  child: ChildProcess;
  lines: AsyncIterator<string>;
  stderr: () => string;
}

/** The bench's worker child compiled like the deployed worker (esbuild, no tsx at run time) and run with its flags. */
function startWorkerChild(childJs: string, env: NodeJS.ProcessEnv): WorkerHandle {
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, childJs], {
    cwd: REPO_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20_000)));
  async function* lines(): AsyncGenerator<string> {
    let buf = '';
    for await (const chunk of child.stdout!.setEncoding('utf8') as AsyncIterable<string>) {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) !== -1) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
  }
  return { child, lines: lines(), stderr: () => err };
}

async function nextJson(w: WorkerHandle, key: string): Promise<Record<string, number | boolean>> {
  for (;;) {
    const n = await w.lines.next();
    if (n.done) throw new Error(`worker exited before reporting ${key}:\n${w.stderr().slice(-4000)}`);
    if (!n.value.startsWith('{')) continue;
    const obj = JSON.parse(n.value) as Record<string, number | boolean>;
    if (key in obj) return obj;
  }
}

/** Full pipeline runs through a real Temporal dev server and a worker process, timed from the run's history. */
export async function benchE2e(o: {
  pool: pg.Pool;
  url: string;
  dataset: DatasetSpec;
  dir: string;
  repeats: number;
  workDir: string;
  split?: boolean;
  log: (msg: string) => void;
}): Promise<E2eResults> {
  const { log } = o;
  log('e2e: starting a Temporal dev server and bundling the workflows');
  const server = await startDevServer({ headless: true, logLevel: 'error' });
  const bundleFile = path.join(o.workDir, 'workflow-bundle.js');
  // as deployed: the bundle and its manifest from npm run build:workflows (without the manifest the worker would
  // bundle the sources with webpack at start, and its peak RSS would count webpack)
  check(await runProcess('npm', ['run', 'build:workflows', '--silent', '--', '--out', bundleFile], { cwd: REPO_DIR }), 'npm run build:workflows');
  const childJs = await compiledChild('worker-child');
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const taskQueue = `gudang-bench-${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: o.url,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    GUDANG_WORKFLOW_BUNDLE: bundleFile,
  };
  const maxConcurrentActivities = Number(process.env.GUDANG_MAX_CONCURRENT_ACTIVITIES ?? 4);
  const samples: E2eSample[] = [];
  const baseline: BaselineSample[] = [];
  let baselineScript: string | undefined;
  try {
    for (let r = 0; r < o.repeats; r++) {
      await resetWarehouse(o.pool, o.dataset);
      const worker = startWorkerChild(childJs, o.split ? { ...env, BENCH_WORKER_ROLE: 'activities' } : env);
      const wfWorker = o.split ? startWorkerChild(childJs, { ...env, BENCH_WORKER_ROLE: 'workflows' }) : undefined;
      try {
        await nextJson(worker, 'ready');
        if (wfWorker) await nextJson(wfWorker, 'ready');
        const loadAvg = loadAvg1();
        const t0 = performance.now();
        const handle = await client.workflow.start('pipelineWorkflow', {
          taskQueue,
          workflowId: `bench-${o.dataset.name}-${Date.now()}-${r}`,
          args: [{ dataset: o.dataset.name, sourceDir: path.resolve(o.dir), runKey: `bench-${r}`, trigger: 'manual' }],
        });
        const summary = (await handle.result()) as PipelineSummary;
        const clientMs = performance.now() - t0;
        const history = await handle.fetchHistory();
        const timings = analyseHistory(history.events ?? []);
        worker.child.kill('SIGTERM');
        wfWorker?.child.kill('SIGTERM');
        const stopped = await nextJson(worker, 'stopped');
        const wfStopped = wfWorker ? await nextJson(wfWorker, 'stopped') : undefined;
        samples.push({
          repeat: r,
          clientMs,
          loadAvg,
          timings,
          worker: { idleRssKiB: Number(stopped.idleRssKiB), peakRssKiB: Number(stopped.peakRssKiB) },
          workflowWorker: wfStopped ? { idleRssKiB: Number(wfStopped.idleRssKiB), peakRssKiB: Number(wfStopped.peakRssKiB) } : undefined,
          summary: { durationMs: summary.durationMs, rows: summary.rows },
        });
        log(
          `e2e${o.split ? ' (split workers)' : ''} ${r + 1}/${o.repeats}: run ${(timings.runMs / 1000).toFixed(2)} s, activities ${(timings.activityUnionMs / 1000).toFixed(2)} s, ` +
            `overhead ${timings.overheadMs.toFixed(0)} ms (${timings.overheadPct.toFixed(2)} %), worker peak RSS ${Math.round(Number(stopped.peakRssKiB) / 1024)} MiB` +
            `${wfStopped ? `, workflow worker ${Math.round(Number(wfStopped.peakRssKiB) / 1024)} MiB` : ''} (load ${loadAvg})`,
        );
        if (o.dataset.name === 'django-apparel') {
          // written after the first run: the small non-CSV sources are exported from the staging tables it loaded
          baselineScript ??= await writeBaselineScript({ url: o.url, dataset: o.dataset, dir: o.dir, workDir: o.workDir });
          const b = await runBaseline(o.pool, o.url, baselineScript, loadAvg1());
          baseline.push(b);
          log(`e2e ${r + 1}/${o.repeats}: hand-written psql session ${(b.ms / 1000).toFixed(2)} s (load ${b.loadAvg}); project/psql ${(timings.runMs / b.ms).toFixed(2)}×`);
        }
      } finally {
        for (const w of [worker, wfWorker]) {
          if (w && w.child.exitCode === null && w.child.signalCode === null) {
            w.child.kill('SIGTERM');
            await once(w.child, 'exit');
          }
        }
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
    await server.stop();
  }
  return { split: o.split ?? false, temporalStartupMs: server.startupMs, maxConcurrentActivities, samples, baseline };
}
