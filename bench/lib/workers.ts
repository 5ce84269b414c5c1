import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import type { PipelineSummary } from '../../src/contracts';
import type { DatasetSpec } from '../../src/datasets';
import { startDevServer } from '../../src/dev/temporal-server';
import { compiledChild } from './build';
import { analyseHistory } from './history';
import { check, loadAvg1, peakRssKiB, rssKiB, runProcess } from './proc';
import { resetWarehouse } from './transform';

// The worker as it is deployed (issue 14): compiled JavaScript (npm run build, then node dist/src/worker.js, no
// tsx), one run of the whole pipeline, its memory read from /proc from outside; then the same file's chunks loaded
// by one worker process and by two on the same task queue.

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');
const WORKER_JS = path.join(REPO_DIR, 'dist', 'src', 'worker.js');
/** As in package.json's "worker" script and the Dockerfile's CMD: V8's young generation at 1 MiB per semi-space and one V8 helper thread (idle RSS; see docs/performance.md). */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
/** How long a worker sits ready before its idle RSS is read (the first polls and timers settle). */
const IDLE_SETTLE_MS = 3000;

export interface MemorySample {
  repeat: number;
  /** VmRSS of the compiled worker, ready and idle, before any task. */
  idleRssKiB: number;
  /** VmHWM of the compiled worker at the end of the whole pipeline run. */
  peakRssKiB: number;
  /** Idle VmRSS of the same worker without workflow code (activities only: no workflow thread and context). */
  activitiesOnlyIdleRssKiB: number;
  runMs: number;
}

export interface ScaleSample {
  workers: number;
  repeat: number;
  chunks: number;
  /** First start of planLoad to the end of publishLoad of the big file, from the run's history. */
  ingestMs: number;
  rows: number;
  loadAvg: number;
}

export interface WorkersResults {
  maxCachedWorkflows: number;
  maxConcurrentActivities: number;
  memory: MemorySample[];
  scale: { source: string; fileBytes: number; chunkBytes: number; samples: ScaleSample[] };
}

interface Proc {
  child: ChildProcess;
  out: () => string;
}

function startProcess(file: string, env: NodeJS.ProcessEnv): Proc {
  // the flags the deployed worker runs with (package.json "worker", Dockerfile CMD)
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, file], { cwd: REPO_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: string) => (out = (out + d).slice(-20_000));
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  return { child, out: () => out };
}

async function waitFor(p: Proc, pattern: RegExp, timeoutMs = 120_000): Promise<void> {
  const t0 = performance.now();
  while (!pattern.test(p.out())) {
    if (p.child.exitCode !== null) throw new Error(`worker exited (${p.child.exitCode}) before ${pattern}:\n${p.out().slice(-4000)}`);
    if (performance.now() - t0 > timeoutMs) throw new Error(`worker not ready after ${timeoutMs} ms:\n${p.out().slice(-4000)}`);
    await sleep(100);
  }
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  await once(p.child, 'exit');
}

/** npm run build (workflow bundle and dist/src/worker.js), and the bench's worker child compiled the same way. */
async function build(): Promise<string> {
  check(await runProcess('npm', ['run', 'build', '--silent'], { cwd: REPO_DIR }), 'npm run build');
  return compiledChild('worker-child');
}

/**
 * The worker as deployed, for the other benchmarks (the stream's): npm run build, then node with the deployed flags
 * on dist/src/worker.js, ready. Measuring a `tsx src/worker.ts` worker instead counts tsx's compiler and an
 * in-process webpack bundle of the workflows, which the deployed worker never carries.
 */
export async function startCompiledWorker(env: NodeJS.ProcessEnv): Promise<{ pid: number; stop: () => Promise<void> }> {
  check(await runProcess('npm', ['run', 'build', '--silent'], { cwd: REPO_DIR }), 'npm run build');
  const worker = startProcess(WORKER_JS, { ...process.env, NODE_ENV: 'production', GUDANG_LOG_LEVEL: 'warn', ...env });
  try {
    await waitFor(worker, /gudang worker ready/);
  } catch (err) {
    await stop(worker);
    throw err;
  }
  return { pid: worker.child.pid!, stop: () => stop(worker) };
}

async function runPipeline(client: Client, taskQueue: string, dataset: DatasetSpec, dir: string, key: string) {
  const handle = await client.workflow.start('pipelineWorkflow', {
    taskQueue,
    workflowId: `bench-workers-${key}-${Date.now()}`,
    args: [{ dataset: dataset.name, sourceDir: path.resolve(dir), runKey: `bench-${key}`, trigger: 'manual' }],
  });
  const summary = (await handle.result()) as PipelineSummary;
  const history = await handle.fetchHistory();
  return { summary, timings: analyseHistory(history.events ?? []) };
}

export async function benchWorkers(o: {
  pool: pg.Pool;
  url: string;
  dataset: DatasetSpec;
  dir: string;
  repeats: number;
  /** The file whose chunks the scale-out loads (order_details). */
  source: string;
  /** Chunk size for the scale-out runs (default: the file in 8 chunks). */
  chunkBytes?: number;
  log: (msg: string) => void;
}): Promise<WorkersResults> {
  const { log } = o;
  log('workers: npm run build (compiled worker and workflow bundle)');
  const childJs = await build();
  const server = await startDevServer({ headless: true, logLevel: 'error' });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const taskQueue = `gudang-bench-workers-${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: o.url,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    GUDANG_LOG_LEVEL: 'warn',
  };
  const spec = o.dataset.sources.find((s) => s.name === o.source)!;
  const fileBytes = (await stat(path.join(o.dir, spec.file))).size;
  const chunkBytes = o.chunkBytes ?? Math.ceil(fileBytes / 8);
  const results: WorkersResults = {
    maxCachedWorkflows: Number(process.env.GUDANG_MAX_CACHED_WORKFLOWS ?? 100),
    maxConcurrentActivities: Number(process.env.GUDANG_MAX_CONCURRENT_ACTIVITIES ?? 4),
    memory: [],
    scale: { source: o.source, fileBytes, chunkBytes, samples: [] },
  };
  try {
    for (let r = 0; r < o.repeats; r++) {
      // activities only: the same worker without the workflow thread and its context
      const child = startProcess(childJs, { ...env, BENCH_WORKER_ROLE: 'activities' });
      await waitFor(child, /"ready":true/);
      await sleep(IDLE_SETTLE_MS);
      const activitiesOnlyIdleRssKiB = rssKiB(child.child.pid!);
      await stop(child);

      await resetWarehouse(o.pool, o.dataset);
      const worker = startProcess(WORKER_JS, env);
      try {
        await waitFor(worker, /gudang worker ready/);
        await sleep(IDLE_SETTLE_MS);
        const idleRssKiB = rssKiB(worker.child.pid!);
        const { timings } = await runPipeline(client, taskQueue, o.dataset, o.dir, `mem-${r}`);
        const peak = peakRssKiB(worker.child.pid!);
        results.memory.push({ repeat: r, idleRssKiB, peakRssKiB: peak, activitiesOnlyIdleRssKiB, runMs: timings.runMs });
        log(
          `workers ${r + 1}/${o.repeats}: compiled worker idle ${Math.round(idleRssKiB / 1024)} MiB, peak ${Math.round(peak / 1024)} MiB over the whole run ` +
            `(${(timings.runMs / 1000).toFixed(1)} s); activities-only idle ${Math.round(activitiesOnlyIdleRssKiB / 1024)} MiB`,
        );
      } finally {
        await stop(worker);
      }

      for (const n of [1, 2]) {
        const workers = Array.from({ length: n }, () => startProcess(WORKER_JS, { ...env, GUDANG_CHUNK_BYTES: String(chunkBytes) }));
        try {
          for (const w of workers) await waitFor(w, /gudang worker ready/);
          const loadAvg = loadAvg1();
          const { summary, timings } = await runPipeline(client, taskQueue, o.dataset, o.dir, `scale${n}-${r}`);
          const steps = timings.activities.filter((a) => /^(plan|load|publish) /.test(a.step) && a.step.split(' ')[1] === o.source);
          const ingestMs = Math.max(...steps.map((a) => a.closedAt)) - Math.min(...steps.map((a) => a.startedAt));
          const chunks = steps.filter((a) => a.activity === 'loadChunk').length;
          const rows = summary.loads.find((l) => l.source === o.source)?.rowsLoaded ?? NaN;
          results.scale.samples.push({ workers: n, repeat: r, chunks, ingestMs, rows, loadAvg });
          log(`workers: ${n} worker process(es), ${o.source} in ${chunks} chunks: ${(ingestMs / 1000).toFixed(2)} s (load ${loadAvg})`);
        } finally {
          for (const w of workers) await stop(w);
        }
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
    await server.stop();
  }
  return results;
}
