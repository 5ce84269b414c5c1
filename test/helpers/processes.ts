/**
 * Real OS processes for the fault tests: gudang workers (`node --import tsx src/worker.ts`) and
 * client commands, spawned with their own environment, watched line by line, killed for real.
 *
 * Nothing is left behind: every child is tracked and SIGKILLed when this process exits, and on
 * Linux `setpriv --pdeathsig KILL` makes the kernel kill it if this process dies without running
 * its exit handlers.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const OUTPUT_KEEP_LINES = 400;
const DEFAULT_STOP_GRACE_MS = 5_000;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let pdeathsig: boolean | undefined;
function canUsePdeathsig(): boolean {
  if (pdeathsig === undefined) {
    pdeathsig = process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  }
  return pdeathsig;
}

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
  private readonly lines: string[] = [];
  private readonly waiters = new Set<LineWaiter>();
  private readonly partial = { stdout: '', stderr: '' };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT) {
    this.name = name;
    const [cmd, cmdArgs] = canUsePdeathsig() ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
    this.child = spawn(cmd, cmdArgs, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    track(this.child);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitedAt = Date.now();
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.push('spawn', `could not spawn ${command}: ${err.message}`);
        resolve({ code: -1, signal: null });
      });
    });
    this.attach('stdout');
    this.attach('stderr');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  private attach(label: 'stdout' | 'stderr'): void {
    const stream = this.child[label];
    stream?.on('data', (chunk: Buffer) => {
      const text = this.partial[label] + chunk.toString('utf8');
      const parts = text.split(/\r?\n/);
      this.partial[label] = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.push(label, line);
    });
  }

  private push(label: string, line: string): void {
    this.lines.push(`${label}: ${line}`);
    if (this.lines.length > OUTPUT_KEEP_LINES) this.lines.shift();
    for (const w of this.waiters) {
      if (w.pattern.test(line)) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /** Everything the process wrote that is still kept, one "stream: line" per line. */
  output(): string {
    return this.lines.join('\n') || '(no output)';
  }

  /** Resolves with the first line (already written or still to come) matching pattern; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l.replace(/^\w+: /, '')));
    if (seen) return Promise.resolve(seen.replace(/^\w+: /, ''));
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

/** Kills every child spawned by this module that is still running (for after() hooks). */
export async function killAll(): Promise<void> {
  const children = [...live];
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(
    children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
  );
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
