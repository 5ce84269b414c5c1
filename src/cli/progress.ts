import type { WorkflowHandle } from '@temporalio/client';
import { failureMessage } from '../client';
import { backfillProgressQueryName, periodLabel, progressQueryName } from '../contracts';
import type { BackfillProgress, BackfillRun, BackfillSummary, PipelineProgress, PipelineSummary, StepProgress } from '../contracts';
import { formatDuration, formatTime } from './common';
import { loadNotes, table } from './format';

// Live progress of a run, from the workflow's `progress` query: a redrawn progress bar on a terminal, one plain
// line per step change otherwise (a log file, CI, a pipe), then the same final report either way.

export interface Output {
  /** A whole line of text (stdout). */
  line(text: string): void;
  /** A progress bar line to redraw in place; only called when tty is true. */
  bar(text: string): void;
  /** Erases the progress bar line. */
  clearBar(): void;
  tty: boolean;
  columns: number;
}

export function processOutput(): Output {
  const stream = process.stdout;
  const tty = Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
  let drawn = false;
  return {
    tty,
    columns: stream.columns || 100,
    line(text) {
      if (drawn) {
        stream.write('\r\x1b[K');
        drawn = false;
      }
      stream.write(`${text}\n`);
    },
    bar(text) {
      stream.write(`\r\x1b[K${text}`);
      drawn = true;
    },
    clearBar() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

export interface RunOutcome {
  /** Temporal's status name: COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, RUNNING (with once). */
  status: string;
  summary?: PipelineSummary;
  progress?: PipelineProgress;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function queryWithin<T>(handle: WorkflowHandle, name: string, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      handle.query<T>(name),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

function drawBar(done: number, total: number, width: number): string {
  const n = total === 0 ? 0 : Math.round((done / total) * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}]`;
}

const clock = (d = new Date()) => formatTime(d).slice(11);

function stepLine(s: StepProgress): string {
  const rows = s.rows === undefined ? '' : s.kind === 'gate' ? `: ${s.rows} checks passed` : `: ${s.rows.toLocaleString('en-US')} rows`;
  const time = s.durationMs === undefined ? '' : ` (${formatDuration(s.durationMs)})`;
  if (s.status === 'failed') return `${clock()}  failed    ${s.step}: ${s.error ?? ''}`;
  if (s.status === 'running') return `${clock()}  started   ${s.step}`;
  if (s.status === 'skipped') return `${clock()}  skipped   ${s.step}`;
  return `${clock()}  ${s.status.padEnd(9)} ${s.step}${rows}${time}`;
}

const TRIGGER_WORDS: Record<string, string> = { manual: 'manual run', schedule: 'scheduled run', backfill: 'backfill run', rerun: 'rerun', demo: 'demo run' };

/** What the run is, in words: "March 2022 (2022-03), manual run", "February 2022 (2022-02), rerun from step facts". */
export function describeProgress(p: { period?: string; trigger?: string; fromStep?: string }): string {
  const what = p.period ? `${periodLabel(p.period)} (${p.period})` : 'full refresh';
  const trigger = TRIGGER_WORDS[p.trigger ?? 'manual'] ?? `${p.trigger} run`;
  return `${what}, ${trigger}${p.fromStep && p.fromStep !== 'ingest' ? ` from step ${p.fromStep}` : ''}`;
}

/**
 * Follows a pipeline run until it ends (or prints one snapshot with `once`). Never throws for a failed run:
 * the outcome says how it ended.
 */
export async function followRun(handle: WorkflowHandle, out: Output, opts: { once?: boolean; pollMs?: number } = {}): Promise<RunOutcome> {
  const pollMs = opts.pollMs ?? (out.tty ? 250 : 1000);
  const printed = new Map<string, string>();
  let last: PipelineProgress | undefined;
  let waitingShown = false;
  for (;;) {
    const description = await handle.describe();
    const status = description.status.name;
    if (status === 'RUNNING') {
      const progress = await queryWithin<PipelineProgress>(handle, progressQueryName, 5_000);
      if (progress) {
        if (!last) out.line(`${clock()}  running   ${describeProgress(progress)}`);
        last = progress;
        if (out.tty && !opts.once) {
          const done = progress.steps.filter((s) => s.status === 'completed' || s.status === 'skipped').length;
          const current = progress.currentSteps.join(', ') || progress.phase;
          const elapsed = formatDuration(Date.now() - new Date(progress.startedAt ?? description.startTime).getTime());
          const text = `${drawBar(done, progress.steps.length, 24)} ${done}/${progress.steps.length} steps  ${elapsed}  ${current}`;
          out.bar(text.slice(0, Math.max(20, out.columns - 1)));
        } else {
          for (const s of progress.steps) {
            const key = `${s.status}:${s.rows ?? ''}`;
            if (s.status === 'pending' || printed.get(s.step) === key) continue;
            printed.set(s.step, key);
            out.line(stepLine(s));
          }
        }
      } else if (!waitingShown) {
        waitingShown = true;
        out.line(`${clock()}  waiting   no progress yet: is a worker polling task queue "${description.taskQueue}"?`);
      }
      if (opts.once) return { status, progress: last };
      await sleep(pollMs);
      continue;
    }

    out.clearBar();
    if (status === 'COMPLETED') {
      const summary = (await handle.result()) as PipelineSummary;
      return { status, summary, progress: last };
    }
    let error: string;
    try {
      await handle.result();
      error = status.toLowerCase();
    } catch (err) {
      error = failureMessage(err);
    }
    // A worker that is still up can tell the final state of every step; else the last one seen will do.
    const final = await queryWithin<PipelineProgress>(handle, progressQueryName, 3_000);
    return { status, error, progress: final ?? last };
  }
}

/** Steps of a finished run: from its summary when it completed, else from its last progress. */
export function stepRows(outcome: RunOutcome): Record<string, unknown>[] {
  const s = outcome.summary;
  if (s) {
    const rows: Record<string, unknown>[] = [];
    for (const step of s.skippedSteps ?? []) rows.push({ step, status: 'skipped', table: '', rows: null, time: '' });
    for (const l of s.loads) rows.push({ step: `load ${l.source}`, status: 'completed', table: l.table, rows: l.rowsLoaded, time: formatDuration(l.durationMs) });
    for (const m of s.models) rows.push({ step: `build ${m.model}`, status: 'completed', table: m.table, rows: m.rows, time: formatDuration(m.durationMs) });
    for (const g of s.gates) {
      const failed = g.checks.filter((c) => !c.passed).length;
      rows.push({ step: `check ${g.layer}`, status: 'completed', table: `${g.checks.length - failed}/${g.checks.length} checks`, rows: null, time: formatDuration(g.durationMs) });
    }
    // Plan order: loads, then each layer's builds and check (as the summary's step list has them).
    const order = new Map([...(s.skippedSteps ?? []), ...s.steps.map((x) => x.step)].map((name, i) => [name, i]));
    return rows.sort((a, b) => (order.get(String(a.step)) ?? 0) - (order.get(String(b.step)) ?? 0));
  }
  return (outcome.progress?.steps ?? []).map((st) => ({
    step: st.step,
    status: st.status,
    table: st.kind === 'gate' ? (st.rows === undefined ? '' : `${st.rows} checks`) : (st.table ?? ''),
    rows: st.kind === 'gate' ? null : (st.rows ?? null),
    time: formatDuration(st.durationMs),
  }));
}

/**
 * The closing report of a run, the same on a terminal and in a log file. `withError: false` leaves the error
 * out, for callers that print it on stderr themselves.
 */
export function formatOutcome(workflowId: string, runId: string, outcome: RunOutcome, withError = true): string {
  const lines: string[] = [];
  const what = outcome.summary ?? outcome.progress;
  const label = what ? describeProgress(what) : '';
  if (outcome.status === 'COMPLETED' && outcome.summary) {
    const s = outcome.summary;
    lines.push(`run ${workflowId} (${runId}) completed in ${formatDuration(s.durationMs)}: ${label}`);
  } else if (outcome.status === 'RUNNING') {
    lines.push(`run ${workflowId} (${runId}) is running: ${label}`);
  } else {
    lines.push(`run ${workflowId} (${runId}) ${outcome.status.toLowerCase().replace('_', ' ')}${label ? `: ${label}` : ''}`);
  }
  const steps = stepRows(outcome);
  if (steps.length > 0) lines.push('', table(steps, ['step', 'status', 'table', 'rows', 'time']));
  const notes = outcome.summary ? loadNotes(outcome.summary) : [];
  if (notes.length > 0) lines.push('', ...notes);
  const partitions = outcome.summary?.partitions;
  if (partitions && Object.keys(partitions).length > 0) {
    const list = Object.entries(partitions).map(([p, n]) => `${p}: ${n.toLocaleString('en-US')}`);
    lines.push('', `fact rows per loaded month (ops.partitions): ${list.length > 6 ? `${list.slice(0, 3).join(', ')}, ... ${list.slice(-2).join(', ')} (${list.length} months)` : list.join(', ')}`);
  }
  const findings = outcome.summary?.findings;
  if (findings && findings.total > 0) {
    lines.push('', `data-quality findings (ops.findings): ${findings.total}`);
    for (const f of findings.items) lines.push(`  ${f.finding} ${f.key}: ${f.detail}`);
    if (findings.total > findings.items.length) lines.push(`  ... and ${findings.total - findings.items.length} more in ops.findings`);
  }
  if (outcome.error && withError) lines.push('', `error: ${outcome.error}`);
  return lines.join('\n');
}

export interface BackfillOutcome {
  status: string;
  summary?: BackfillSummary;
  progress?: BackfillProgress;
  error?: string;
}

/** Follows a backfill: a line per month as it starts and ends. */
export async function followBackfill(handle: WorkflowHandle, out: Output, opts: { once?: boolean; pollMs?: number } = {}): Promise<BackfillOutcome> {
  const pollMs = opts.pollMs ?? 1000;
  const printed = new Map<string, string>();
  let last: BackfillProgress | undefined;
  const print = (p: BackfillProgress) => {
    for (const r of p.runs) {
      if (r.status === 'pending' || printed.get(r.period) === r.status) continue;
      printed.set(r.period, r.status);
      out.line(`${clock()}  ${r.status.padEnd(9)} ${r.period} ${r.workflowId}${r.rows !== undefined ? `: ${r.rows.toLocaleString('en-US')} fact rows` : ''}${r.durationMs !== undefined ? ` (${formatDuration(r.durationMs)})` : ''}${r.error ? `: ${r.error}` : ''}`);
    }
  };
  for (;;) {
    const status = (await handle.describe()).status.name;
    if (status === 'RUNNING') {
      const p = await queryWithin<BackfillProgress>(handle, backfillProgressQueryName, 5_000);
      if (p) {
        last = p;
        print(p);
      }
      if (opts.once) return { status, progress: last };
      await sleep(pollMs);
      continue;
    }
    if (status === 'COMPLETED') {
      const summary = (await handle.result()) as BackfillSummary;
      print({ dataset: summary.dataset, runs: summary.runs });
      return { status, summary };
    }
    let error = status.toLowerCase();
    try {
      await handle.result();
    } catch (err) {
      error = failureMessage(err);
    }
    const final = await queryWithin<BackfillProgress>(handle, backfillProgressQueryName, 3_000);
    if (final) print(final);
    return { status, error, progress: final ?? last };
  }
}

export function formatBackfill(workflowId: string, outcome: BackfillOutcome): string {
  const runs: BackfillRun[] = outcome.summary?.runs ?? outcome.progress?.runs ?? [];
  const lines = [`backfill ${workflowId} ${outcome.status.toLowerCase()}`];
  if (runs.length > 0) {
    lines.push(
      '',
      table(
        runs.map((r) => ({ period: r.period, workflow: r.workflowId, status: r.status, 'fact rows': r.rows ?? null, time: formatDuration(r.durationMs) })),
      ),
    );
  }
  if (outcome.error) lines.push('', `error: ${outcome.error}`);
  return lines.join('\n');
}
