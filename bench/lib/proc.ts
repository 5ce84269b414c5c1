import { spawn } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Peak resident set size (VmHWM) of a live process, in KiB; 0 when it cannot be read. */
export function peakRssKiB(pid: number | 'self' = 'self'): number {
  return statusField(pid, 'VmHWM');
}

/** Current resident set size (VmRSS) of a live process, in KiB. */
export function rssKiB(pid: number | 'self' = 'self'): number {
  return statusField(pid, 'VmRSS');
}

function statusField(pid: number | 'self', field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** 1-minute load average: a noise indicator recorded next to every timing. */
export function loadAvg1(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, measured by this process. */
  wallMs: number;
  pid?: number;
}

/** Runs a command to completion, collecting its output and timing it from spawn to exit. */
export function runProcess(command: string, args: string[], options: SpawnOptions = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      // keep only the tail: a chatty child must not fill memory
      stderr = (stderr + d).slice(-20_000);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, wallMs: performance.now() - t0, pid: child.pid }));
  });
}

/** Throws with the command's stderr tail when it did not exit 0. */
export function check(run: ProcessRun, what: string): ProcessRun {
  if (run.code !== 0) {
    throw new Error(`${what} failed (exit ${run.code ?? run.signal}):\n${run.stderr.trim().split('\n').slice(-25).join('\n')}`);
  }
  return run;
}

/** The last line of stdout parsed as JSON (children print their result there). */
export function lastJsonLine<T>(run: ProcessRun, what: string): T {
  const line = run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${what}: no JSON result on stdout; stderr:\n${run.stderr.slice(-4000)}`);
  return JSON.parse(line) as T;
}
