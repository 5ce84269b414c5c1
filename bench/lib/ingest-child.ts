/**
 * One project ingest in its own process, so the benchmark can time it as a whole process (like psql and pandas)
 * and read its peak RSS and CPU time. It runs the pipeline's own ingest activities (planLoad, loadChunk per chunk,
 * publishLoad) in-process, in the order workflows/ingest.ts runs them, each in a MockActivityEnvironment.
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
import { getDataset } from '../../src/datasets';
import { stagingDDL } from '../../src/ingest/staging';
import { migrate } from '../../src/warehouse/migrate';
import { peakRssKiB, rssKiB } from './proc';

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

/** Runs chunks `limit` at a time, as a worker with that many activity slots does. */
async function mapLimited<T>(items: readonly number[], limit: number, fn: (item: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
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

  const spec = getDataset(datasetName).sources.find((s) => s.name === sourceName);
  if (!spec) throw new Error(`no source ${sourceName}`);
  // The engine holds a connection per running chunk and may take a second one meanwhile (the reject budget
  // check): a pool of at most `concurrency` connections can hang. Size it like the worker's (GUDANG_DB_POOL_SIZE, 8).
  const poolSize = Math.max(8, 2 * Number(concurrency ?? 4) + 2);
  const pool = new pg.Pool({ connectionString: db, max: poolSize, application_name: 'gudang-bench' });

  if (argv.includes('--migrate')) {
    await migrate(pool);
    await pool.query(stagingDDL(spec));
  }
  const acts = createIngestActivities(pool, { chunkBytes: chunkBytes ? Number(chunkBytes) : undefined, dbChunkRows: dbChunkRows ? Number(dbChunkRows) : undefined });
  const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> => new MockActivityEnvironment().run(fn, ...args);
  const ref = { dataset: datasetName, source: sourceName, runId: randomUUID(), workflowId: 'bench' };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rssBeforeKiB = rssKiB();
  const plan = await run(acts.planLoad, { ...ref, sourceDir: dir, ...(sourceDb ? { sourceDb } : {}) });
  const t0c = performance.now();
  let outcome = { status: 'reload' } as Awaited<ReturnType<typeof acts.publishLoad>>;
  let tp = t0c;
  for (let round = 0; round < 2 && outcome.status !== 'published'; round++) {
    await mapLimited(plan.chunks, Number(concurrency ?? 4), (chunk) => run(acts.loadChunk, { ...ref, chunk }));
    tp = performance.now();
    outcome = await run(acts.publishLoad, ref);
  }
  if (outcome.status !== 'published') throw new Error(`${sourceName}: not published (${outcome.reason})`);
  const result = outcome.result;
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
    timings: { planMs: t0c - t0, chunksMs: tp - t0c, publishMs: t1 - tp, chunks: plan.chunks.length },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
