/**
 * gudang's benchmark (issue 5): psql \copy vs the project's ingest vs pandas to_sql, the transform vs the same
 * SQL in psql, incremental vs full, the end-to-end run through Temporal, and the chunked fan-out.
 *
 *   npm run bench -- [--order-lines 1M] [--repeats 3] [--only ingest,transform,e2e,fanout] [--chunks] ...
 *
 * Writes bench/results/<YYYY-MM-DD>-<N>.json (raw timings, machine, PostgreSQL settings) and prints a markdown
 * table. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generateDataset } from '../dataset/generate';
import { getDataset } from '../src/datasets';
import type { DatasetSpec } from '../src/datasets';
import { loadSource } from '../src/ingest/load';
import { migrate } from '../src/warehouse/migrate';
import { parseArgs, USAGE } from './lib/args';
import type { BenchOptions } from './lib/args';
import { formatSummary, loadProfile, summarise } from './lib/cpuprofile';
import type { ProfileSummary } from './lib/cpuprofile';
import { createBenchDatabase } from './lib/db';
import type { BenchDatabase } from './lib/db';
import { benchE2e } from './lib/e2e';
import { benchFanout } from './lib/fanout';
import { benchIngest, prepareStaging, projectIngest, psqlCopyCsv } from './lib/ingest';
import { machineInfo, postgresInfo } from './lib/machine';
import { computeTargets, human, renderMarkdown } from './lib/report';
import type { BenchReport } from './lib/report';
import { benchTransform, runTransform } from './lib/transform';
import { benchDashboard, renderDashboard } from './lib/dashboard';
import type { DashboardBench } from './lib/dashboard';
import { benchWorkers } from './lib/workers';
import { benchSourceDb, renderSourceDb } from './lib/source-db';
import type { SourceDbResults } from './lib/source-db';
import { benchSuperstore, loadSuperstoreStaging, renderSuperstore } from './lib/superstore';
import type { SuperstoreBench } from './lib/superstore';
import { benchZodRows, renderZodRows } from './lib/zod-rows';
import type { ZodRowsBench } from './lib/zod-rows';
import { benchStream, renderStream } from './lib/stream';
import type { StreamBench } from './lib/stream';
import { benchBackup, renderBackup } from './lib/backup';
import type { BackupBench } from './lib/backup';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');
const DATASET = 'django-apparel';

const t0 = performance.now();
function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${msg}\n`);
}

/** Data rows of a CSV file (newlines minus the header; the generator writes no quoted newlines). */
async function csvRows(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  }
  return n - 1;
}

async function prepareData(o: BenchOptions, dataset: DatasetSpec): Promise<string> {
  const dir = path.resolve(o.dataDir ?? path.join(BENCH_DIR, 'data', `lines-${o.orderLines}-seed-${o.seed}`));
  const marker = path.join(dir, '.generated.json');
  const complete = dataset.sources.every((s) => existsSync(path.join(dir, s.file)));
  if (o.dataDir) {
    if (!complete) throw new Error(`--data ${dir}: missing source files (${dataset.sources.map((s) => s.file).join(', ')})`);
    return dir;
  }
  if (complete && existsSync(marker)) {
    log(`data: reusing ${path.relative(REPO_DIR, dir)}`);
    return dir;
  }
  log(`data: generating ${human(o.orderLines)} order lines (seed ${o.seed}) into ${path.relative(REPO_DIR, dir)}`);
  const g0 = performance.now();
  await generateDataset({ orderLines: o.orderLines, out: dir, seed: o.seed });
  await writeFile(marker, JSON.stringify({ orderLines: o.orderLines, seed: o.seed, generatedAt: new Date().toISOString() }));
  log(`data: generated in ${((performance.now() - g0) / 1000).toFixed(1)} s`);
  return dir;
}

/** Every source into staging, untimed: CSVs by psql \copy (fast), the small Excel/JSON/Parquet files by loadSource. */
async function loadAllSources(db: BenchDatabase, dataset: DatasetSpec, dir: string): Promise<void> {
  for (const spec of dataset.sources) {
    if (spec.format === 'csv') {
      await prepareStaging(db.pool, spec);
      await db.pool.query(`TRUNCATE staging.${spec.name}`);
      await psqlCopyCsv(db.url, spec, path.join(dir, spec.file));
    } else {
      await loadSource(db.pool, spec, dir, { runId: 'bench-prepare', workflowId: 'bench', dataset: dataset.name });
    }
  }
  for (const spec of dataset.sources) await db.pool.query(`ANALYZE staging.${spec.name}`);
}

/**
 * The commit measured and the uncommitted files of the code under test. A run from an exported snapshot
 * (no .git; see bench/README.md) reads the commit from .bench-commit instead.
 */
function gitInfo(): { commit: string; dirtyFiles: string[] } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'sql', 'activities', 'workflows', 'dataset'], { cwd: REPO_DIR, encoding: 'utf8' });
    return { commit, dirtyFiles: status.split('\n').filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    const marker = path.join(REPO_DIR, '.bench-commit');
    return { commit: existsSync(marker) ? readFileSync(marker, 'utf8').trim() : 'unknown', dirtyFiles: [] };
  }
}

async function profileIngest(db: BenchDatabase, dataset: DatasetSpec, dir: string, workDir: string, o: BenchOptions, label: string): Promise<{ label: string; file: string; summary: ProfileSummary }> {
  const spec = dataset.sources.find((s) => s.name === 'order_details')!;
  const profDir = path.join(workDir, `cpuprofile-${label}`);
  await mkdir(profDir, { recursive: true });
  await db.pool.query(`TRUNCATE staging.${spec.name}`);
  log(`profile: one project ingest (${label}) under node --cpu-prof`);
  await projectIngest({ url: db.url, spec, dir, cpuProfileDir: profDir });
  const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profDir, f));
  // the main thread's profile is the largest
  const main = files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  return { label, file: path.relative(REPO_DIR, main), summary: summarise(loadProfile(main), 30) };
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const o = parsed;
  if (o.render) {
    const saved = JSON.parse(readFileSync(o.render, 'utf8')) as BenchReport;
    process.stdout.write(`${renderMarkdown(saved, computeTargets(saved))}\n`);
    return;
  }
  const dataset = getDataset(DATASET);
  const startedAt = new Date();
  const machine = machineInfo();
  log(`${human(o.orderLines)} order lines, ${o.repeats} repeats, parts: ${o.parts.join(', ')}; ${machine.nproc} × ${machine.cpuModel}, load ${machine.loadAvgAtStart.join(' ')}`);
  const dir = await prepareData(o, dataset);
  const orderDetails = dataset.sources.find((s) => s.name === 'order_details')!;
  const expectedRows = await csvRows(path.join(dir, orderDetails.file));
  if (!o.dataDir && expectedRows !== o.orderLines) throw new Error(`order_details.csv has ${expectedRows} rows, expected ${o.orderLines}`);
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const workDir = path.join(BENCH_DIR, 'data', `run-${stamp}`);
  await mkdir(workDir, { recursive: true });

  const db = await createBenchDatabase(o.serverUrl);
  log(`database ${db.name}`);
  const report: BenchReport & { profiles?: { label: string; file: string; summary: ProfileSummary }[]; dashboard?: DashboardBench; sourceDb?: SourceDbResults; superstore?: SuperstoreBench; zodRows?: ZodRowsBench; stream?: StreamBench; backup?: BackupBench } = {
    orderLines: expectedRows,
    repeats: o.repeats,
    machine,
    postgres: await postgresInfo(db.pool),
    git: gitInfo(),
  };
  try {
    await migrate(db.pool);
    if (o.parts.includes('ingest')) {
      report.ingest = await benchIngest({
        pool: db.pool,
        url: db.url,
        spec: orderDetails,
        dir,
        repeats: o.repeats,
        pandasRepeats: o.pandasRepeats,
        skipPandas: o.skipPandas,
        expectedRows,
        zodVariantDir: o.zodVariant ? `${dir}-zodpath` : undefined,
        log,
      });
    }
    if (o.parts.includes('zod-rows')) {
      report.zodRows = await benchZodRows({ pool: db.pool, url: db.url, lines: o.orderLines, dataDir: path.join(BENCH_DIR, 'data'), repeats: o.repeats, log });
    }
    if (o.profile) {
      report.profiles = [await profileIngest(db, dataset, dir, workDir, o, 'file')];
      if (report.ingest?.zodVariant) report.profiles.push(await profileIngest(db, dataset, path.dirname(report.ingest.zodVariant.file), workDir, o, 'zod-path'));
      for (const p of report.profiles) process.stderr.write(`\n--- CPU profile: ${p.label} (${p.file})\n${formatSummary(p.summary)}\n`);
    }
    if (o.parts.includes('fanout')) {
      report.fanout = await benchFanout({ pool: db.pool, url: db.url, spec: orderDetails, dir, repeats: o.repeats, expectedRows, log });
    }
    if (o.parts.includes('transform')) {
      log('transform: loading the 7 sources into staging (untimed)');
      await loadAllSources(db, dataset, dir);
      report.transform = await benchTransform({ pool: db.pool, url: db.url, dataset, repeats: o.repeats, workDir, log });
    }
    if (o.parts.includes('dashboard')) {
      if (!o.parts.includes('transform')) {
        log('dashboard: loading the 7 sources into staging and building the warehouse (untimed)');
        await loadAllSources(db, dataset, dir);
        await runTransform(db.pool, dataset);
      }
      // the Superstore marts too (at --superstore-lines), so its endpoints and page are measured with data in them
      const size = { pool: db.pool, url: db.url, orderLines: o.superstoreLines, customers: o.superstoreCustomers, products: o.superstoreProducts, dataDir: path.join(BENCH_DIR, 'data'), log };
      log(`dashboard: loading and building Superstore at ${o.superstoreLines} lines (untimed)`);
      await loadSuperstoreStaging(size);
      await runTransform(db.pool, getDataset('superstore'));
      report.dashboard = await benchDashboard({ pool: db.pool, url: db.url, log });
    }
    if (o.parts.includes('backup')) {
      if (!o.parts.includes('transform') && !o.parts.includes('dashboard')) {
        log('backup: loading the 7 sources into staging and building the warehouse (untimed)');
        await loadAllSources(db, dataset, dir);
        await runTransform(db.pool, dataset);
      }
      report.backup = await benchBackup({ pool: db.pool, url: db.url, serverUrl: o.serverUrl, dataset, dir, repeats: o.repeats, workDir, log });
    }
    if (o.parts.includes('workers')) {
      report.workers = await benchWorkers({ pool: db.pool, url: db.url, dataset, dir, repeats: o.repeats, source: orderDetails.name, log });
    }
    if (o.parts.includes('source-db')) {
      report.sourceDb = await benchSourceDb({ pool: db.pool, url: db.url, serverUrl: o.serverUrl, spec: orderDetails, dir, workDir, repeats: o.repeats, expectedRows, dbChunkRows: o.dbChunkRows, concurrency: 4, log });
    }
    if (o.parts.includes('superstore')) {
      report.superstore = await benchSuperstore({ pool: db.pool, url: db.url, orderLines: o.superstoreLines, customers: o.superstoreCustomers, products: o.superstoreProducts, repeats: o.repeats, dataDir: path.join(BENCH_DIR, 'data'), workDir, log });
    }
    if (o.parts.includes('stream')) {
      report.stream = await benchStream({ pool: db.pool, url: db.url, dir, durationS: o.streamSeconds, rate: o.streamRate, log });
    }
    if (o.parts.includes('e2e')) {
      report.e2e = await benchE2e({ pool: db.pool, url: db.url, dataset, dir, repeats: o.repeats, workDir, split: o.splitWorkers, log });
    }
  } finally {
    if (o.keep) log(`keeping database ${db.name} (--keep)`);
    else await db.drop();
  }

  const targets = computeTargets(report);
  let markdown = renderMarkdown(report, targets);
  if (report.dashboard) markdown += `\n\n${renderDashboard(report.dashboard)}\n`;
  if (report.sourceDb) markdown += `\n\n${renderSourceDb(report.sourceDb)}\n`;
  if (report.superstore) markdown += `\n\n${renderSuperstore(report.superstore)}\n`;
  if (report.zodRows) markdown += `\n\n${renderZodRows(report.zodRows)}\n`;
  if (report.stream) markdown += `\n\n${renderStream(report.stream)}\n`;
  if (report.backup) markdown += `\n\n${renderBackup(report.backup)}\n`;
  const finishedAt = new Date();
  await mkdir(path.resolve(REPO_DIR, o.resultsDir), { recursive: true });
  const day = startedAt.toISOString().slice(0, 10);
  const partsTag = o.parts.length < 3 ? `-${o.parts.join('+')}` : '';
  // a Superstore-only run is sized by its own lines (--superstore-lines), not by the order lines it never generated
  const sizeRows = o.parts.length === 1 && o.parts[0] === 'superstore' ? o.superstoreLines : expectedRows;
  let outFile = path.resolve(REPO_DIR, o.resultsDir, `${day}-${human(sizeRows)}${partsTag}.json`);
  // never overwrite an earlier run of the same day: add the start time
  if (existsSync(outFile)) outFile = outFile.replace(/\.json$/, `-${stamp.slice(9, 13)}.json`);
  const json = {
    benchmark: 'gudang issue 5',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    options: { ...o, serverUrl: o.serverUrl.replace(/\/\/[^@]*@/, '//***@') },
    data: { dir: path.relative(REPO_DIR, dir), orderDetailsRows: expectedRows },
    ...report,
    targets,
    markdown,
  };
  await writeFile(outFile, `${JSON.stringify(json, null, 1)}\n`);
  log(`results written to ${path.relative(REPO_DIR, outFile)}`);
  process.stdout.write(`${markdown}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
