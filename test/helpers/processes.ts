/**
 * Real OS processes for the fault tests: gudang workers (`node --import tsx src/worker.ts`) and
 * client commands, spawned with their own environment, watched line by line, killed for real.
 *
 * Nothing is left behind: every child is spawned through the process tracker (src/dev/processes.ts),
 * which kills it when this process exits or dies.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputTail, spawnTracked } from '../../src/dev/processes';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const OUTPUT_KEEP_LINES = 400;
const DEFAULT_STOP_GRACE_MS = 5_000;

const managed = new Set<ManagedProcess>();

export interface LineWaiter {
  pattern: RegExp;
  resolve: (line: string) => void;
}

/** A child process whose output is kept (last lines) and can be waited on line by line. */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly startedAt = Date.now();
  /** When the process exited (ms since the epoch), once it has. */
  exitedAt?: number;
  private readonly tail = new OutputTail(OUTPUT_KEEP_LINES);
  private readonly waiters = new Set<LineWaiter>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT) {
    this.name = name;
    this.child = spawnTracked(command, args, { cwd, env });
    managed.add(this);
    this.tail.onLine((line) => {
      for (const w of this.waiters) {
        if (w.pattern.test(line)) {
          this.waiters.delete(w);
          w.resolve(line);
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitedAt = Date.now();
        managed.delete(this);
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.tail.push('spawn', `could not spawn ${command}: ${err.message}`);
        managed.delete(this);
        resolve({ code: -1, signal: null });
      });
    });
    this.tail.follow(this.child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** Everything the process wrote that is still kept, one "stream: line" per line. */
  output(): string {
    return this.tail.text();
  }

  /** Resolves with the first line (already written or still to come) matching pattern; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.tail.plainLines().find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} (pid ${this.pid}): ${why} while waiting for /${pattern.source}/.\nOutput:\n${this.output()}`));
      };
      const timer = setTimeout(() => fail(`no matching line in ${timeoutMs} ms`), timeoutMs);
      const waiter: LineWaiter = {
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.add(waiter);
      void this.exited.then(({ code, signal }) => {
        if (this.waiters.has(waiter)) fail(`exited (code ${code}, signal ${signal})`);
      });
    });
  }

  /** Sends a signal without waiting. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGKILL, resolving once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after graceMs. Idempotent. */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    if (!this.running) return void (await this.exited);
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs a TypeScript entry point of this repository in its own Node process (`node --import tsx file`). */
export function spawnTs(name: string, file: string, args: string[], env: NodeJS.ProcessEnv): ManagedProcess {
  return new ManagedProcess(name, process.execPath, ['--import', 'tsx', path.join(ROOT, file), ...args], env);
}

export interface WorkerEnv {
  DATABASE_URL: string;
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_TASK_QUEUE: string;
  /** Prebuilt workflow bundle: the worker starts in about a second instead of bundling. */
  GUDANG_WORKFLOW_BUNDLE?: string;
  GUDANG_LOG_LEVEL?: string;
}

export const WORKER_READY = /gudang worker ready/;

/** Starts `node --import tsx src/worker.ts` and waits for its "gudang worker ready" line. */
export async function startWorkerProcess(env: WorkerEnv, opts: { name?: string; readyTimeoutMs?: number } = {}): Promise<ManagedProcess> {
  const worker = spawnTs(opts.name ?? 'worker', 'src/worker.ts', [], { ...process.env, GUDANG_LOG_LEVEL: 'warn', ...env });
  try {
    await worker.waitForLine(WORKER_READY, opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await worker.kill();
    throw err;
  }
  return worker;
}

/** Kills every ManagedProcess still running (for after() hooks). */
export async function killAll(): Promise<void> {
  await Promise.all([...managed].map((p) => p.kill()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls check() every intervalMs until it returns a value other than undefined/false; throws after
 * timeoutMs, as soon as signal is aborted, or when check() throws an error that isFatal accepts
 * (other errors count as "not yet").
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 100,
  signal?: AbortSignal,
  isFatal: (err: unknown) => boolean = () => false,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (signal?.aborted) throw new Error(`stopped waiting for ${what}: ${String(signal.reason)}`);
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (isFatal(err)) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}
