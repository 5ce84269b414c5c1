/**
 * One project ingest in its own process, so the benchmark can read its peak RSS and CPU time.
 *
 *   node --import tsx bench/lib/ingest-child.ts --db URL --source NAME --dir DIR [--engine auto|load|engine]
 *                                              [--chunk-bytes N] [--concurrency N] [--migrate]
 *
 * Prints one JSON line on stdout (IngestChildResult). The database must be migrated already, or pass --migrate
 * (handy for profiling by hand: node --cpu-prof --import tsx bench/lib/ingest-child.ts --migrate ...).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { getDataset } from '../../src/datasets';
import { loadSource } from '../../src/ingest/load';
import { stagingDDL } from '../../src/ingest/staging';
import { migrate } from '../../src/warehouse/migrate';
import { findIngestEngine } from './engine';
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
  /** The engine's own phase timings, when it reports them (plan, load, publish, chunks). */
  timings?: unknown;
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
  const engineChoice = arg(argv, '--engine') ?? 'auto';
  const chunkBytes = arg(argv, '--chunk-bytes');
  const concurrency = arg(argv, '--concurrency');
  const datasetName = arg(argv, '--dataset') ?? 'django-apparel';
  if (!db || !dir) throw new Error('usage: ingest-child --db URL --dir DIR [--source NAME]');

  const spec = getDataset(datasetName).sources.find((s) => s.name === sourceName);
  if (!spec) throw new Error(`no source ${sourceName}`);
  // The engine holds a connection per running chunk and may take a second one meanwhile (the reject budget
  // check): a pool of at most `concurrency` connections can hang. Size it like the worker's (GUDANG_DB_POOL_SIZE, 8).
  const poolSize = Math.max(8, 2 * Number(concurrency ?? 4) + 2);
  const pool = new pg.Pool({ connectionString: db, max: poolSize, application_name: 'gudang-bench' });
  const ctx = { runId: `bench-${process.pid}`, workflowId: 'bench', dataset: datasetName };

  if (argv.includes('--migrate')) {
    await migrate(pool);
    await pool.query(stagingDDL(spec));
  }
  const engine = engineChoice === 'load' ? undefined : await findIngestEngine();
  if (engineChoice === 'engine' && !engine) throw new Error('no ingest engine (ingestFile) found in src/ingest');

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rssBeforeKiB = rssKiB();
  let result: { rowsRead: number; rowsLoaded: number; rowsRejected: number; timings?: unknown };
  if (engine) {
    const opts: Record<string, unknown> = { ...ctx };
    if (chunkBytes) opts.chunkBytes = Number(chunkBytes);
    if (concurrency) opts.concurrency = Number(concurrency);
    result = await engine.ingestFile(pool, spec, dir, opts);
  } else {
    result = await loadSource(pool, spec, dir, ctx);
  }
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await pool.end();
  const out: IngestChildResult = {
    engine: engine ? engine.name : 'loadSource',
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
    timings: result.timings,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
