import { summary } from './stats';
import type { Target } from './report';
import type { WorkersResults } from './workers';

// Targets and tables of the `workers` part: the compiled worker's memory and the scale-out (issue 14).

const MiB = (kib: number) => Math.round(kib / 1024);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

export function workerTargets(w: WorkersResults, orderLines: number): Target[] {
  if (w.memory.length === 0) return [];
  const peak = summary(w.memory.map((m) => m.peakRssKiB));
  const idle = summary(w.memory.map((m) => m.idleRssKiB));
  const targets: Target[] = [
    {
      id: 'compiled-worker-peak-rss',
      target: `compiled worker peak RSS < 256 MiB over a whole pipeline run (${orderLines.toLocaleString('en-US')} order lines)`,
      measured: `${MiB(peak.max)} MiB (max of ${peak.n})`,
      ratio: peak.max / (256 * 1024),
      met: peak.max < 256 * 1024,
    },
    {
      id: 'compiled-worker-idle-rss',
      target: 'compiled worker idle RSS < 150 MiB',
      measured: `${MiB(idle.max)} MiB (max of ${idle.n})`,
      ratio: idle.max / (150 * 1024),
      met: idle.max < 150 * 1024,
    },
  ];
  const one = w.scale.samples.filter((v) => v.workers === 1).map((v) => v.ingestMs);
  const two = w.scale.samples.filter((v) => v.workers === 2).map((v) => v.ingestMs);
  if (one.length && two.length) {
    const speedup = summary(one).median / summary(two).median;
    targets.push({
      id: 'scale-out',
      target: `two worker processes on one task queue load one file's chunks between them (report one vs two)`,
      measured: `two workers ${speedup.toFixed(2)}× the throughput of one`,
      ratio: speedup,
      met: null,
    });
  }
  return targets;
}

export function renderWorkers(w: WorkersResults): string[] {
  const out: string[] = [];
  out.push('');
  out.push(
    `### The compiled worker (node dist/src/worker.js, no tsx; RSS read from /proc from outside; workflow cache ${w.maxCachedWorkflows}, ` +
      `up to ${w.maxConcurrentActivities} activities at once)`,
  );
  out.push('');
  out.push(row(['repeat', 'idle RSS, MiB', 'peak RSS over the run, MiB', 'runtime (activities-only worker idle), MiB', 'workflow context (idle − activities-only), MiB', 'activity buffers (peak − idle), MiB', 'run, s']));
  out.push(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const m of w.memory) {
    out.push(row([m.repeat + 1, MiB(m.idleRssKiB), MiB(m.peakRssKiB), MiB(m.activitiesOnlyIdleRssKiB), MiB(m.idleRssKiB - m.activitiesOnlyIdleRssKiB), MiB(m.peakRssKiB - m.idleRssKiB), (m.runMs / 1000).toFixed(1)]));
  }
  const s = w.scale;
  if (s.samples.length) {
    out.push('');
    out.push(`Scale-out: ${s.source} (${(s.fileBytes / 2 ** 20).toFixed(0)} MiB) cut into chunks of ${(s.chunkBytes / 2 ** 20).toFixed(1)} MiB, loaded inside a whole pipeline run by one or two compiled worker processes on the same task queue (plan → last publish, from the run's history).`);
    out.push('');
    out.push(row(['workers', 'repeat', 'chunks', 'ingest, s', 'rows/s', 'load avg']));
    out.push(row(['---:', '---:', '---:', '---:', '---:', '---:']));
    for (const v of s.samples) {
      out.push(row([v.workers, v.repeat + 1, v.chunks, (v.ingestMs / 1000).toFixed(2), Math.round(v.rows / (v.ingestMs / 1000)).toLocaleString('en-US'), v.loadAvg]));
    }
  }
  return out;
}
