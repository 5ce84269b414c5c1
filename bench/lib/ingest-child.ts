/**
 * One project ingest in its own process, so the benchmark can time it as a whole process (like psql and pandas)
 * and read its peak RSS and CPU time. It runs the pipeline's own ingest activities (planLoad, loadChunk per chunk,
 * publishLoad) in-process, each in a MockActivityEnvironment, in the pipeline's own order (runLoad, the function
 * workflows/ingest.ts runs them with), the chunks `--concurrency` at a time like a worker's activity slots.
 * `--source superstore_raw` is the benchmark's own source (bench/lib/superstore-csv.ts).
 *
 *   node dist/bench/ingest-child.js --db URL --source NAME --dir DIR [--chunk-bytes N] [--concurrency N] [--migrate]
 *                                   [--source-db URL [--db-chunk-rows N]]
 *
 * (compiled by the bench with esbuild, so no TypeScript loader is timed). Prints one JSON line on stdout
 * (IngestChildResult). The database must be migrated already, or pass --migrate.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { createIngestActivities } from '../../activities/ingest';
import { runLoad } from '../../workflows/load-steps';
import { limited } from '../../src/ingest/load';
import { getDataset } from '../../src/datasets';
import { stagingDDL } from '../../src/ingest/staging';
import { migrate } from '../../src/warehouse/migrate';
import { peakRssKiB, rssKiB } from './proc';
import { superstoreRaw } from './superstore-csv';

export interface IngestChildResult {
  engine: string;
  source: string;
  rowsRead: number;
  rowsLoaded: number;
  rowsRejected: number;
  /** Milliseconds inside this process around the ingest call (module loading excluded). */
  ingestMs: number;
  /** Milliseconds from process start (performance.timeOrigin) to the end of the ingest. */
  processMs: number;
  /** Peak resident set size (VmHWM) in KiB. */
  peakRssKiB: number;
  /** CPU time of this process, user and system, in milliseconds. */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Resident set size after loading the modules, before the ingest, in KiB. */
  rssBeforeKiB: number;
  /** Milliseconds per step: plan, chunks (all of them), publish. */
  timings: { planMs: number; chunksMs: number; publishMs: number; chunks: number };
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const db = arg(argv, '--db');
  const sourceName = arg(argv, '--source') ?? 'order_details';
  const dir = arg(argv, '--dir');
  const chunkBytes = arg(argv, '--chunk-bytes');
  const concurrency = arg(argv, '--concurrency');
  const datasetName = arg(argv, '--dataset') ?? 'django-apparel';
  // read the source from a table of this database instead of its file (bench/lib/source-db.ts)
  const sourceDb = arg(argv, '--source-db');
  const dbChunkRows = arg(argv, '--db-chunk-rows');
  if (!db || !dir) throw new Error('usage: ingest-child --db URL --dir DIR [--source NAME]');

  const extra = [superstoreRaw];
  const spec = extra.find((s) => s.name === sourceName) ?? getDataset(datasetName).sources.find((s) => s.name === sourceName);
  if (!spec) throw new Error(`no source ${sourceName}`);
  // The engine holds a connection per running chunk and may take a second one meanwhile (the reject budget
  // check): a pool of at most `concurrency` connections can hang. Size it like the worker's (GUDANG_DB_POOL_SIZE, 8).
  const poolSize = Math.max(8, 2 * Number(concurrency ?? 4) + 2);
  const pool = new pg.Pool({ connectionString: db, max: poolSize, application_name: 'gudang-bench' });

  if (argv.includes('--migrate')) {
    await migrate(pool);
    await pool.query(stagingDDL(spec));
  }
  const acts = createIngestActivities(pool, { chunkBytes: chunkBytes ? Number(chunkBytes) : undefined, dbChunkRows: dbChunkRows ? Number(dbChunkRows) : undefined, sources: extra });
  const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> => new MockActivityEnvironment().run(fn, ...args);
  const ref = { dataset: datasetName, source: sourceName, runId: randomUUID(), workflowId: 'bench' };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rssBeforeKiB = rssKiB();
  let t0c = t0;
  let tp = t0;
  let chunks = 0;
  const loadChunk = limited(Number(concurrency ?? 4), (chunk: number) => run(acts.loadChunk, { ...ref, chunk }));
  const result = await runLoad({
    plan: async () => {
      const plan = await run(acts.planLoad, { ...ref, sourceDir: dir, ...(sourceDb ? { sourceDb } : {}) });
      t0c = performance.now();
      chunks = plan.chunks.length;
      return plan;
    },
    chunk: (chunk) => loadChunk(chunk),
    publish: () => {
      tp = performance.now();
      return run(acts.publishLoad, ref);
    },
    discard: async () => {
      await run(acts.discardLoad, ref).catch(() => undefined);
    },
    notPublished: (message) => new Error(message),
  });
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await pool.end();
  const out: IngestChildResult = {
    engine: 'the ingest activities in-process (planLoad, loadChunk, publishLoad)',
    source: sourceName,
    rowsRead: result.rowsRead,
    rowsLoaded: result.rowsLoaded,
    rowsRejected: result.rowsRejected,
    ingestMs: t1 - t0,
    processMs: t1,
    peakRssKiB: peakRssKiB(),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    rssBeforeKiB,
    timings: { planMs: t0c - t0, chunksMs: tp - t0c, publishMs: t1 - tp, chunks },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
