import type { Client } from '@temporalio/client';
import { parseArgs } from 'node:util';
import { redactUrl } from '../config';
import type { Config } from '../config';
import { SA } from '../contracts';
import { createPool } from '../db';
import { EXIT, ExitError, UsageError, checkPeriod, config, connect, formatDuration, formatTime, positiveInt } from './common';
import { table } from './format';

export const RUNS_HELP = `usage: gudang runs [--limit N] [--dataset NAME] [--period YYYY-MM] [--status STATUS] [--partitions]

Run history, newest first: when, which workflow, trigger, period, status, duration, rows, error.
Read from PostgreSQL (ops.pipeline_runs, written by the runs themselves) when DATABASE_URL is set; otherwise
from Temporal's visibility store (no row counts; only as far back as the namespace's retention).

  --limit N          how many runs (default 20)
  --dataset NAME     only this dataset
  --period YYYY-MM   only runs of this month
  --status STATUS    only runs that are running, completed, failed or cancelled
  --partitions       instead of runs, list the loaded months (ops.partitions; needs DATABASE_URL)

exit codes: 0 ok, 2 bad usage, 3 PostgreSQL/Temporal unreachable`;

const STATUSES = ['running', 'completed', 'failed', 'cancelled'];

const short = (text: string | null | undefined, n = 70) => (!text ? '' : text.length > n ? `${text.slice(0, n - 3)}...` : text);
const count = (n: number | string | null | undefined) => (n === null || n === undefined ? '' : Number(n).toLocaleString('en-US'));

interface Filters {
  limit: number;
  dataset?: string;
  period?: string;
  status?: string;
}

async function fromDatabase(url: string, f: Filters): Promise<string> {
  const pool = createPool(url, 1);
  try {
    const { rows } = await pool.query(
      `SELECT started_at, workflow_id, trigger, coalesce(period, 'full') AS period, status,
              extract(epoch FROM (coalesce(finished_at, now()) - started_at)) * 1000 AS ms,
              rows_loaded, period_rows, error, from_step
         FROM ops.pipeline_runs
        WHERE ($1::text IS NULL OR dataset = $1) AND ($2::text IS NULL OR period = $2) AND ($3::text IS NULL OR status = $3)
        ORDER BY started_at DESC, run_id
        LIMIT $4`,
      [f.dataset ?? null, f.period ?? null, f.status ?? null, f.limit],
    );
    return table(
      rows.map((r) => ({
        'started (UTC)': formatTime(r.started_at),
        workflow: r.workflow_id,
        trigger: r.from_step ? `${r.trigger} (from ${r.from_step})` : r.trigger,
        period: r.period,
        status: r.status,
        duration: formatDuration(Number(r.ms)),
        loaded: count(r.rows_loaded),
        'fact rows': count(r.period_rows),
        error: short(r.error),
      })),
    );
  } catch (err) {
    throw databaseError(url, err);
  } finally {
    await pool.end();
  }
}

async function partitions(url: string, f: Filters): Promise<string> {
  const pool = createPool(url, 1);
  try {
    const { rows } = await pool.query(
      `SELECT p.dataset, p.period, p.status, p.rows, p.updated_at, r.workflow_id, r.trigger
         FROM ops.partitions AS p
         LEFT JOIN ops.pipeline_runs AS r ON r.run_id = p.last_run_id
        WHERE ($1::text IS NULL OR p.dataset = $1) AND ($2::text IS NULL OR p.period = $2)
        ORDER BY p.dataset, p.period DESC
        LIMIT $3`,
      [f.dataset ?? null, f.period ?? null, f.limit],
    );
    return table(
      rows.map((r) => ({
        dataset: r.dataset,
        period: r.period,
        status: r.status,
        'fact rows': count(r.rows),
        'updated (UTC)': formatTime(r.updated_at),
        'last run': r.workflow_id ?? '',
        trigger: r.trigger ?? '',
      })),
    );
  } catch (err) {
    throw databaseError(url, err);
  } finally {
    await pool.end();
  }
}

function databaseError(url: string, err: unknown): Error {
  const e = err as Error & { code?: string };
  if (e.code === '42P01') return new ExitError(EXIT.unavailable, `no run history in ${redactUrl(url)}: ops.pipeline_runs does not exist (start a worker once: it applies the migrations)`);
  if (e.code === 'ECONNREFUSED' || e.code === '3D000' || e.code === '28P01') return new ExitError(EXIT.unavailable, `cannot reach PostgreSQL at ${redactUrl(url)}: ${e.message}`);
  return e;
}

async function fromTemporal(client: Client, cfg: Config, f: Filters): Promise<string> {
  const clauses = [`WorkflowType = 'pipelineWorkflow'`];
  if (f.dataset) clauses.push(`GudangDataset = '${f.dataset}'`);
  if (f.period) clauses.push(`GudangPeriod = '${f.period}'`);
  if (f.status) clauses.push(`ExecutionStatus = '${f.status === 'cancelled' ? 'Canceled' : f.status[0]!.toUpperCase() + f.status.slice(1)}'`);
  const rows: Record<string, unknown>[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND '), pageSize: f.limit })) {
    const end = wf.closeTime ?? new Date();
    rows.push({
      'started (UTC)': formatTime(wf.startTime),
      workflow: wf.workflowId,
      trigger: wf.typedSearchAttributes.get(SA.trigger) ?? '',
      period: wf.typedSearchAttributes.get(SA.period) ?? '',
      status: wf.status.name.toLowerCase(),
      duration: formatDuration(end.getTime() - wf.startTime.getTime()),
    });
    if (rows.length >= f.limit) break;
  }
  return `${table(rows)}\n(from Temporal visibility in namespace ${cfg.TEMPORAL_NAMESPACE}; set DATABASE_URL for row counts and errors)`;
}

export async function runsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string' },
      dataset: { type: 'string' },
      period: { type: 'string' },
      status: { type: 'string' },
      partitions: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(RUNS_HELP);
    return EXIT.ok;
  }
  const filters: Filters = {
    limit: positiveInt(values.limit, '--limit', 20),
    dataset: values.dataset,
    period: checkPeriod(values.period, '--period'),
    status: values.status,
  };
  if (filters.status && !STATUSES.includes(filters.status)) throw new UsageError(`runs: --status must be one of ${STATUSES.join(', ')}`);
  const cfg = config();
  if (values.partitions) {
    if (!cfg.DATABASE_URL) throw new UsageError('runs --partitions reads ops.partitions: set DATABASE_URL');
    console.log(await partitions(cfg.DATABASE_URL, filters));
    return EXIT.ok;
  }
  if (cfg.DATABASE_URL) {
    console.log(await fromDatabase(cfg.DATABASE_URL, filters));
    return EXIT.ok;
  }
  console.log(await fromTemporal(await connect(cfg), cfg, filters));
  return EXIT.ok;
}
