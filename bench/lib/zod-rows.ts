import { stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { stagingDDL, stagingTable } from '../../src/ingest/staging';
import { psqlQuote, settle } from './db';
import { projectIngest } from './ingest';
import { check, loadAvg1, runProcess } from './proc';
import { summary } from './stats';
import { superstoreRaw, superstoreShapedCsv } from './superstore-csv';

// Issue 14, "rows that need zod": the raw Superstore sample's shape (BOM, CRLF, month-first dates in two formats,
// quoted names with commas and doubled quotes) at N lines, loaded by the project and by psql \copy into the same keyed
// table, alternating, each timed as a whole process from spawn to exit. Both loads must give the same table.

export type ZodRowsMethod = 'copy' | 'project';

export interface ZodRowsSample {
  method: ZodRowsMethod;
  repeat: number;
  ms: number;
  rows: number;
  loadAvg: number;
  peakRssKiB?: number;
  cpuMs?: number;
  /** The project's plan / chunks / publish split (ms, in its process). */
  detail?: unknown;
}

export interface ZodRowsBench {
  file: string;
  fileBytes: number;
  lines: number;
  /** What psql was told about dates: the session's DateStyle for \copy (the project writes ISO dates). */
  dateStyle: string;
  /** count, sums and an order-free hash of every row (text trimmed), identical after each method (checked). */
  fingerprint: Record<string, string>;
  samples: ZodRowsSample[];
}

const COLUMNS = Object.keys(superstoreRaw.columns);
/**
 * Every column of a row as text, text columns trimmed: gudang stores text as zod has it (trimmed: the sample has 16
 * product names with a trailing space), \copy as written. Nothing else may differ.
 */
const ROW_TEXT = COLUMNS.map((c) => (superstoreRaw.columns[c]!.kind === 'text' ? `btrim(${c})` : `${c}::text`)).join(', ');

async function fingerprint(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows } = await pool.query<Record<string, string>>(
    `SELECT count(*)::text AS rows, sum(sales)::text AS sales, sum(profit)::text AS profit,
            min(order_date)::text AS first_order, max(ship_date)::text AS last_ship,
            sum(hashtext(concat_ws('|', ${ROW_TEXT}))::bigint)::text AS row_hash
       FROM ${stagingTable(superstoreRaw)} t`,
  );
  return rows[0]!;
}

/** psql \copy of the file into the keyed table, month-first dates read as such (DateStyle MDY). */
async function psqlCopy(url: string, file: string, dateStyle: string): Promise<{ ms: number; rows: number }> {
  const cmd = `\\copy ${stagingTable(superstoreRaw)} (${COLUMNS.join(', ')}) FROM ${psqlQuote(path.resolve(file))} WITH (FORMAT csv, HEADER true)`;
  const r = check(await runProcess('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', cmd], { env: { ...process.env, PGDATESTYLE: dateStyle } }), 'psql \\copy superstore_raw');
  const m = /COPY (\d+)/.exec(r.stdout);
  return { ms: r.wallMs, rows: m ? Number(m[1]) : NaN };
}

export async function benchZodRows(o: { pool: pg.Pool; url: string; lines: number; dataDir: string; repeats: number; log: (msg: string) => void }): Promise<ZodRowsBench> {
  const { pool, log } = o;
  const dir = path.join(o.dataDir, `superstore-raw-${o.lines}`);
  log(`zod-rows: ${o.lines.toLocaleString('en-US')} Superstore-shaped lines in ${dir}`);
  const file = await superstoreShapedCsv(dir, o.lines);
  const fileBytes = (await stat(file)).size;
  await pool.query(stagingDDL(superstoreRaw));
  const dateStyle = 'ISO, MDY';
  const samples: ZodRowsSample[] = [];
  let expected: Record<string, string> | undefined;
  for (let r = 0; r < o.repeats; r++) {
    for (const method of ['copy', 'project'] as const) {
      await pool.query(`TRUNCATE ${stagingTable(superstoreRaw)}`);
      await settle(pool);
      const loadAvg = loadAvg1();
      if (method === 'copy') {
        const c = await psqlCopy(o.url, file, dateStyle);
        samples.push({ method, repeat: r, ms: c.ms, rows: c.rows, loadAvg });
      } else {
        const { result, processMs } = await projectIngest({ url: o.url, spec: superstoreRaw, dir });
        samples.push({
          method,
          repeat: r,
          ms: processMs,
          rows: result.rowsLoaded,
          loadAvg,
          peakRssKiB: result.peakRssKiB,
          cpuMs: result.cpuUserMs + result.cpuSystemMs,
          detail: { ...result.timings, rowsRejected: result.rowsRejected, inProcessMs: result.ingestMs },
        });
      }
      const f = await fingerprint(pool);
      if (Number(f.rows) !== o.lines) throw new Error(`zod-rows ${method}: ${f.rows} rows in staging, expected ${o.lines}`);
      expected ??= f;
      if (JSON.stringify(f) !== JSON.stringify(expected)) throw new Error(`zod-rows ${method}: the table differs from the first load: ${JSON.stringify(f)} vs ${JSON.stringify(expected)}`);
      const s = samples.at(-1)!;
      log(`zod-rows ${r + 1}/${o.repeats} ${method.padEnd(7)} ${(s.ms / 1000).toFixed(2)} s (${Math.round(s.rows / (s.ms / 1000)).toLocaleString('en-US')} rows/s, load ${loadAvg})`);
    }
  }
  return { file, fileBytes, lines: o.lines, dateStyle, fingerprint: expected!, samples };
}

export function renderZodRows(b: ZodRowsBench): string {
  const by = (m: ZodRowsMethod) => summary(b.samples.filter((s) => s.method === m).map((s) => s.ms));
  const copy = by('copy');
  const project = by('project');
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const ratio = copy.median / project.median;
  const loads = b.samples.map((s) => s.loadAvg);
  return [
    `### Rows that need zod: a Superstore-shaped CSV (${b.lines.toLocaleString('en-US')} lines, ${(b.fileBytes / 2 ** 20).toFixed(0)} MiB)`,
    '',
    'BOM, CRLF, month-first dates in two formats, quoted names with commas and doubled quotes; both methods into the same keyed',
    `table, alternating, each timed as a whole process (spawn to exit); \\copy with DateStyle '${b.dateStyle}'. Same table after each (checked).`,
    '',
    '| method | median s | min s | max s | rows/s | vs \\copy |',
    '| --- | --- | --- | --- | --- | --- |',
    `| psql \\copy | ${secs(copy.median)} | ${secs(copy.min)} | ${secs(copy.max)} | ${Math.round(b.lines / (copy.median / 1000)).toLocaleString('en-US')} | 1.00× |`,
    `| gudang | ${secs(project.median)} | ${secs(project.min)} | ${secs(project.max)} | ${Math.round(b.lines / (project.median / 1000)).toLocaleString('en-US')} | ${ratio.toFixed(2)}× |`,
    '',
    `Target ≥ 0.5× \\copy: **${ratio >= 0.5 ? 'met' : 'not met'}** (${ratio.toFixed(2)}×). Load average during the trials: ${Math.min(...loads)} to ${Math.max(...loads)}.`,
  ].join('\n');
}
