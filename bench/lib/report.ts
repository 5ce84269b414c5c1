import { djangoApparel } from '../../src/datasets/django-apparel';
import { baselineReport } from './baseline';
import type { E2eResults } from './e2e';
import type { FanoutResults } from './fanout';
import type { IngestMethod, IngestResults } from './ingest';
import type { MachineInfo, PostgresInfo } from './machine';
import { round, spreadPct, summary } from './stats';
import type { Summary } from './stats';
import type { TransformResults } from './transform';
import { renderWorkers, workerTargets } from './report-workers';
import type { WorkersResults } from './workers';

export interface Target {
  id: string;
  target: string;
  measured: string;
  ratio?: number;
  met: boolean | null;
  note?: string;
}

export interface BenchReport {
  orderLines: number;
  repeats: number;
  machine: MachineInfo;
  postgres: PostgresInfo;
  git: { commit: string; dirtyFiles: string[] };
  ingest?: IngestResults;
  transform?: TransformResults;
  e2e?: E2eResults;
  fanout?: FanoutResults;
  workers?: WorkersResults;
}

const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');
const mib = (kib: number | undefined) => (kib ? `${Math.round(kib / 1024)} MiB` : '–');
const x = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? '–' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mark = (met: boolean | null) => (met === null ? 'n/a' : met ? '**met**' : '**not met**');
export const human = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function timeCells(sm: Summary): string[] {
  return [s(sm.median), s(sm.min), s(sm.max), `${round(spreadPct(sm), 0)} %`];
}

export function ingestSummaries(ing: IngestResults): Record<IngestMethod, Summary & { rss?: Summary; processMs?: Summary }> {
  const out = {} as Record<IngestMethod, Summary & { rss?: Summary; processMs?: Summary }>;
  for (const m of ['copy', 'copy-deferred', 'project', 'project-zod', 'pandas'] as IngestMethod[]) {
    const xs = ing.samples.filter((t) => t.method === m);
    const rss = xs.map((t) => t.peakRssKiB ?? NaN).filter(Number.isFinite);
    out[m] = { ...summary(xs.map((t) => t.ms)), rss: rss.length ? summary(rss) : undefined, processMs: summary(xs.map((t) => t.processMs)) };
  }
  return out;
}

export function computeTargets(r: BenchReport): Target[] {
  const targets: Target[] = [];
  if (r.ingest) {
    const sm = ingestSummaries(r.ingest);
    // both ceilings: \copy into the keyed table, and \copy into a bare table then ADD PRIMARY KEY
    for (const [id, m, label] of [
      ['', 'copy', 'psql \\copy into the keyed table'],
      ['-deferred-pk', 'copy-deferred', 'psql \\copy into a bare table + ADD PRIMARY KEY'],
    ] as const) {
      const c = sm[m].median;
      if (!sm[m].n) continue;
      targets.push({
        id: `ingest-vs-copy${id}`,
        target: `ingest ≥ 0.7× the throughput of ${label} (all timed as whole processes)`,
        measured: `${s(sm.project.median)} s vs ${s(c)} s`,
        ratio: c / sm.project.median,
        met: c / sm.project.median >= 0.7,
      });
      if (sm['project-zod'].n > 0) {
        const z = sm['project-zod'].median;
        targets.push({
          id: `ingest-zod-path-vs-copy${id}`,
          target: `rows that need Zod ≥ 0.5× ${label}`,
          measured: `${s(z)} s vs ${s(c)} s`,
          ratio: c / z,
          met: c / z >= 0.5,
        });
      }
    }
    if (r.ingest.pandas.available && sm.pandas.n > 0) {
      const vsPandas = sm.pandas.median / sm.project.median;
      targets.push({
        id: 'ingest-vs-pandas',
        target: 'ingest ≥ 30× the pandas to_sql method',
        measured: `${s(sm.project.median)} s vs ${s(sm.pandas.median)} s`,
        ratio: vsPandas,
        met: vsPandas >= 30,
      });
    } else {
      targets.push({ id: 'ingest-vs-pandas', target: 'ingest ≥ 30× the pandas to_sql method', measured: 'not run', met: null, note: r.ingest.pandas.why });
    }
    if (sm.project.rss) {
      targets.push({
        id: 'ingest-rss',
        target: 'peak RSS of the ingest < 256 MiB',
        measured: `${mib(sm.project.rss.max)} (max of ${sm.project.rss.n})`,
        ratio: sm.project.rss.max / (256 * 1024),
        met: sm.project.rss.max < 256 * 1024,
      });
    }
  }
  if (r.transform) {
    const p = summary(r.transform.samples.filter((t) => t.kind === 'project').map((t) => t.ms));
    const q = summary(r.transform.samples.filter((t) => t.kind === 'psql').map((t) => t.ms));
    targets.push({
      id: 'transform-vs-psql',
      target: 'transform ≤ 1.3× the same SQL in psql',
      measured: `${s(p.median)} s vs ${s(q.median)} s`,
      ratio: p.median / q.median,
      met: p.median / q.median <= 1.3,
    });
    // issue 14: the gates at most 15 % of the transform (same checks), per project run
    const gateShare = summary(
      r.transform.samples.flatMap((t) => (t.kind === 'project' && t.detail ? [t.detail.gates.reduce((a, g) => a + g.ms, 0) / t.detail.totalMs] : [])),
    );
    targets.push({
      id: 'gates-share',
      target: 'quality gates ≤ 15 % of the transform time',
      measured: `${round(100 * gateShare.median, 1)} % on ${r.transform.gateConnections ?? 1} connection(s) (min ${round(100 * gateShare.min, 1)}, max ${round(100 * gateShare.max, 1)})`,
      ratio: gateShare.median / 0.15,
      met: gateShare.median <= 0.15,
    });
    const inc = r.transform.incremental;
    if (inc.supported && inc.samples.length) {
      const full = inc.samples.filter((t) => t.kind === 'full');
      const per = inc.samples.filter((t) => t.kind === 'period');
      const f = summary(full.map((t) => t.ms));
      const pp = summary(per.map((t) => t.ms));
      const onlyMonth = per.every((t) => (t.touched['warehouse.fct_transactions']?.written ?? -1) === t.periodFactRows);
      targets.push({
        id: 'incremental-time',
        target: 'a one-month run < 20 % of a full run',
        measured: `${s(pp.median)} s vs ${s(f.median)} s`,
        ratio: pp.median / f.median / 0.2,
        met: pp.median / f.median < 0.2,
      });
      targets.push({
        id: 'incremental',
        target: 'a one-month run touches only that month (time vs a full rebuild)',
        measured: `${s(pp.median)} s vs ${s(f.median)} s; fact rows written ${int(per[0]?.touched['warehouse.fct_transactions']?.written ?? NaN)} = the month's ${int(per[0]?.periodFactRows ?? NaN)}`,
        ratio: pp.median / f.median,
        met: onlyMonth,
      });
    } else {
      targets.push({ id: 'incremental', target: 'a one-month run touches only that month', measured: 'not available', met: null, note: inc.note });
    }
  }
  if (r.e2e && r.e2e.samples.length) {
    const o = summary(r.e2e.samples.map((t) => t.timings.overheadPct));
    targets.push({
      id: 'orchestration-overhead',
      target: `orchestration overhead < 5 % of the run${r.orderLines === 1_000_000 ? '' : ' (target stated at 1M lines)'}`,
      measured: `${round(o.median, 2)} % (min ${round(o.min, 2)}, max ${round(o.max, 2)})`,
      ratio: o.median / 5,
      met: o.median < 5,
    });
    const vsBaseline = baselineReport(r.e2e, djangoApparel.layers.map((l) => ({ name: l.name, models: l.models.map((m) => m.name) }))).target;
    if (vsBaseline) targets.push(vsBaseline);
    const rss = summary(r.e2e.samples.map((t) => t.worker.peakRssKiB));
    targets.push({
      id: 'worker-rss',
      target: `peak RSS of the worker < 256 MiB (whole pipeline${r.e2e.split ? ', activity worker' : ''})`,
      measured: `${mib(rss.max)} (max of ${rss.n})`,
      ratio: rss.max / (256 * 1024),
      met: rss.max < 256 * 1024,
    });
  }
  if (r.fanout) {
    targets.push({
      id: 'fan-out',
      target: 'throughput grows with parallel chunk loads',
      measured: r.fanout.available ? 'see the fan-out table' : 'not available',
      met: null,
      note: r.fanout.note,
    });
  }
  if (r.workers) targets.push(...workerTargets(r.workers, r.orderLines));
  return targets;
}

export function renderMarkdown(r: BenchReport, targets: Target[]): string {
  const out: string[] = [];
  const n = human(r.orderLines);
  out.push(`## Benchmark: ${n} order lines, ${r.repeats} alternating repeats`);
  out.push('');
  out.push(
    `Machine: ${r.machine.nproc} × ${r.machine.cpuModel}, ${Math.round(r.machine.memTotalMiB / 1024)} GiB RAM, ${r.machine.kernel}, Node ${r.machine.node}; ` +
      `${r.postgres.version.split(' on ')[0]} on loopback (` +
      ['shared_buffers', 'wal_level', 'synchronous_commit', 'fsync', 'max_wal_size', 'autovacuum'].map((k) => `${k}=${r.postgres.settings[k] ?? '?'}`).join(', ') +
      `). Load average at start ${r.machine.loadAvgAtStart.join(' / ')}. Commit ${r.git.commit.slice(0, 10)}${r.git.dirtyFiles.length ? ` + ${r.git.dirtyFiles.length} uncommitted file(s)` : ''}.`,
  );
  out.push('');
  out.push('Times in seconds; median, min, max over the repeats; spread = (max − min) / median.');

  if (r.ingest) {
    const ing = r.ingest;
    const sm = ingestSummaries(ing);
    out.push('');
    out.push(`### Ingest: order_details.csv (${n} lines, ${Math.round(ing.fileBytes / 1e6)} MB) into staging.order_details (primary key)`);
    out.push('');
    out.push(row(['Method', 'median', 'min', 'max', 'spread', 'rows/s (median)', 'peak RSS', 'vs \\copy (keyed)', 'vs \\copy + ADD PRIMARY KEY']));
    out.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    const line = (label: string, m: IngestMethod) => {
      const t = sm[m];
      if (!t.n) return;
      out.push(row([label, ...timeCells(t), int(r.orderLines / (t.median / 1000)), mib(t.rss?.max), x(sm.copy.median / t.median), x(sm['copy-deferred'].median / t.median)]));
    };
    line('psql `\\copy` (ceiling)', 'copy');
    line('psql `\\copy` into a table without index, then `ADD PRIMARY KEY`', 'copy-deferred');
    line(`project: ${ing.engine}`, 'project');
    line(`project, Zod path: the same rows with ${ing.zodVariant?.quotedColumn ?? ing.zodVariant?.paddedColumn ?? '?'} ${ing.zodVariant?.quotedColumn ? 'quoted' : 'space-padded'}, so every row goes through ${ing.zodVariant?.quotedColumn ? 'csv-parse and ' : ''}Zod`, 'project-zod');
    line("pandas `to_sql(method='multi', chunksize=1000)`", 'pandas');
    out.push('');
    out.push(
      `Every method is timed the same way: as a whole process, from spawn to exit, by the bench (psql; the project's ingest activities run in-process by a compiled Node child, node dist/bench/ingest-child.js; pandas). ` +
        `Inside its process the project's ingest itself took ${s(summary(ing.samples.filter((v) => v.method === 'project' && v.inProcessMs !== undefined).map((v) => v.inProcessMs!)).median)} s (median; reference only). ` +
        (ing.pandas.available
          ? `pandas: ${ing.pandas.versions} from Debian, ${ing.pandas.repeats} run(s), timed as a process (read_csv + to_sql).`
          : `pandas not run: ${ing.pandas.why ?? 'unavailable'}.`),
    );
  }

  if (r.transform) {
    const t = r.transform;
    const p = summary(t.samples.filter((v) => v.kind === 'project').map((v) => v.ms));
    const q = summary(t.samples.filter((v) => v.kind === 'psql').map((v) => v.ms));
    out.push('');
    out.push(`### Transform: 7 models + 3 layer gates, from an empty warehouse`);
    out.push('');
    out.push(row(['Run', 'median', 'min', 'max', 'spread', 'vs psql']));
    out.push(row(['---', '---:', '---:', '---:', '---:', '---:']));
    out.push(row([`psql -f: the same ${t.statementsRecorded} statements, one session (the checks one after another)`, ...timeCells(q), '1.00×']));
    out.push(row([`project: runModel + runLayerGates, in-process (checks on ${t.gateConnections ?? 1} connection(s) at once)`, ...timeCells(p), x(p.median / q.median)]));
    const detail = t.samples.filter((v) => v.kind === 'project' && v.detail).map((v) => v.detail!);
    if (detail.length) {
      out.push('');
      out.push('Project, per step (median ms): ' + [
        ...detail[0]!.models.map((m, i) => `${m.model} ${Math.round(summary(detail.map((d) => d.models[i]!.ms)).median)}`),
        ...detail[0]!.gates.map((g, i) => `gate ${g.layer} ${Math.round(summary(detail.map((d) => d.gates[i]!.ms)).median)}`),
      ].join(', ') + '.');
    }
    const inc = t.incremental;
    out.push('');
    if (inc.supported && inc.samples.length) {
      const full = inc.samples.filter((v) => v.kind === 'full');
      const per = inc.samples.filter((v) => v.kind === 'period');
      const f = summary(full.map((v) => v.ms));
      const pp = summary(per.map((v) => v.ms));
      const written = (v: (typeof inc.samples)[number], table: string) => v.touched[table]?.written ?? NaN;
      out.push(`Incremental (over a built warehouse, VACUUM ANALYZE before each run):`);
      out.push('');
      out.push(row(['Run', 'median', 'min', 'max', 'spread', 'vs full', 'fact rows written', 'mart rows written']));
      out.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
      const marts = (v: (typeof inc.samples)[number]) =>
        Object.entries(v.touched)
          .filter(([k]) => k.startsWith('mart.'))
          .map(([k, w]) => `${k.replace('mart.', '')} ${int(w.written)}/${int(w.total)}`)
          .join(', ');
      out.push(row(['full refresh', ...timeCells(f), '1.00×', `${int(written(full[0]!, 'warehouse.fct_transactions'))}`, marts(full[0]!)]));
      out.push(
        row([`period ${inc.period}`, ...timeCells(pp), x(pp.median / f.median), `${int(written(per[0]!, 'warehouse.fct_transactions'))} (month has ${int(per[0]!.periodFactRows ?? NaN)})`, marts(per[0]!)]),
      );
      const stepMedians = (xs: typeof full) => {
        const d = xs.map((v) => v.detail);
        return [
          ...d[0]!.models.map((m, i) => `${m.model} ${Math.round(summary(d.map((z) => z.models[i]!.ms)).median)}`),
          ...d[0]!.gates.map((g, i) => `gate ${g.layer} ${Math.round(summary(d.map((z) => z.gates[i]!.ms)).median)}`),
        ].join(', ');
      };
      out.push('');
      out.push(`Per step (median ms). Full refresh: ${stepMedians(full)}. Period run: ${stepMedians(per)}.`);
    } else {
      out.push(`Incremental: ${inc.note ?? 'not measured'}.`);
    }
  }

  if (r.e2e && r.e2e.samples.length) {
    const e = r.e2e;
    const run = summary(e.samples.map((v) => v.timings.runMs));
    const act = summary(e.samples.map((v) => v.timings.activityUnionMs));
    const ovh = summary(e.samples.map((v) => v.timings.overheadMs));
    const pct = summary(e.samples.map((v) => v.timings.overheadPct));
    const wft = summary(e.samples.map((v) => v.timings.workflowTaskMs));
    const rss = summary(e.samples.map((v) => v.worker.peakRssKiB));
    out.push('');
    out.push(
      `### End to end through Temporal (dev server, ${e.split ? 'two worker processes: workflows only and activities only' : 'one worker process'}, up to ${e.maxConcurrentActivities} activities at once)`,
    );
    out.push('');
    out.push(row(['Measure', 'median', 'min', 'max']));
    out.push(row(['---', '---:', '---:', '---:']));
    out.push(row(['run (WorkflowExecutionStarted → Completed), s', s(run.median), s(run.min), s(run.max)]));
    out.push(row(['some activity running (union of Started → Completed), s', s(act.median), s(act.min), s(act.max)]));
    out.push(row(['no activity running (orchestration overhead), s', s(ovh.median), s(ovh.min), s(ovh.max)]));
    out.push(row(['overhead, % of the run', round(pct.median, 2), round(pct.min, 2), round(pct.max, 2)]));
    out.push(row(['workflow tasks, total scheduled → completed, s', s(wft.median), s(wft.min), s(wft.max)]));
    out.push(row([e.split ? 'activity worker peak RSS, MiB' : 'worker peak RSS, MiB', Math.round(rss.median / 1024), Math.round(rss.min / 1024), Math.round(rss.max / 1024)]));
    const wf = e.samples.map((v) => v.workflowWorker?.peakRssKiB).filter((v): v is number => v !== undefined);
    if (wf.length) {
      const w = summary(wf);
      out.push(row(['workflow worker peak RSS, MiB', Math.round(w.median / 1024), Math.round(w.min / 1024), Math.round(w.max / 1024)]));
    }
    out.push('');
    out.push('Per step (median over the runs, ms): queue = Scheduled → Started, exec = Started → Completed as the server recorded it, reported = the activity\'s own durationMs.');
    out.push('');
    out.push(row(['Step', 'starts at', 'queue', 'exec', 'reported']));
    out.push(row(['---', '---:', '---:', '---:', '---:']));
    const allSteps = [...new Set(e.samples.flatMap((v) => v.timings.activities.map((a) => a.step)))];
    const startOf = (step: string) => summary(e.samples.map((v) => v.timings.activities.find((a) => a.step === step)?.startedAt ?? NaN)).median;
    const steps = allSteps.sort((a, b) => startOf(a) - startOf(b));
    for (const step of steps) {
      const xs = e.samples.map((v) => v.timings.activities.find((a) => a.step === step)).filter((a) => a !== undefined);
      const med = (f: (a: (typeof xs)[number]) => number | undefined) => {
        const v = xs.map(f).filter((z): z is number => z !== undefined && Number.isFinite(z));
        return v.length ? int(summary(v).median) : '–';
      };
      out.push(row([step, med((a) => a.startedAt), med((a) => a.queueMs), med((a) => a.execMs), med((a) => a.reportedMs)]));
    }
    const mid = [...e.samples].sort((a, b) => a.timings.overheadMs - b.timings.overheadMs)[Math.floor(e.samples.length / 2)]!;
    const gaps = [...mid.timings.gaps].sort((a, b) => b.ms - a.ms).slice(0, 6);
    out.push('');
    out.push(
      `Largest gaps with no activity running (median run, ${Math.round(mid.timings.overheadMs)} ms in ${mid.timings.gaps.length} gaps, ${mid.timings.workflowTasks} workflow tasks): ` +
        gaps.map((g) => `${Math.round(g.ms)} ms between ${g.before} and ${g.after}`).join('; ') +
        `. Worker RSS when idle, before the run: ${mib(mid.worker.idleRssKiB)}.`,
    );
    out.push(...baselineReport(e, djangoApparel.layers.map((l) => ({ name: l.name, models: l.models.map((m) => m.name) }))).lines);
  }

  if (r.fanout) {
    out.push('');
    out.push('### Fan-out: byte-range chunks loaded in parallel (one process)');
    out.push('');
    if (!r.fanout.available) {
      out.push(`Not measured: ${r.fanout.note}.`);
    } else {
      out.push(row(['chunks', 'concurrency', 'median', 'min', 'max', 'rows/s', 'vs 1 chunk', 'peak RSS']));
      out.push(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
      const base = summary(r.fanout.samples.filter((v) => v.chunks === 1).map((v) => v.ms)).median;
      const keys = [...new Set(r.fanout.samples.map((v) => `${v.chunks}x${v.concurrency}`))];
      for (const k of keys) {
        const xs = r.fanout.samples.filter((v) => `${v.chunks}x${v.concurrency}` === k);
        const t = summary(xs.map((v) => v.ms));
        out.push(row([xs[0]!.chunks, xs[0]!.concurrency, s(t.median), s(t.min), s(t.max), int(r.orderLines / (t.median / 1000)), x(base / t.median), mib(Math.max(...xs.map((v) => v.peakRssKiB)))]));
      }
    }
  }

  if (r.workers) out.push(...renderWorkers(r.workers));

  out.push('');
  out.push('### Targets');
  out.push('');
  out.push(row(['Target', 'Measured', 'Ratio', 'Status']));
  out.push(row(['---', '---', '---:', '---']));
  for (const t of targets) out.push(row([t.target, t.measured + (t.note ? ` (${t.note})` : ''), x(t.ratio), mark(t.met)]));
  return out.join('\n');
}
