/**
 * The one child-process tracker, for everything gudang starts as a process of its own: the Temporal dev server,
 * the embedded PostgreSQL, and the workers and commands the tests run.
 *
 * Nothing is left behind: every child is tracked and signalled when this process exits (SIGKILL by default;
 * PostgreSQL gets SIGINT, its fast shutdown, which completes on its own), and on Linux util-linux
 * `setpriv --pdeathsig` makes the kernel signal it if this process dies without running its exit handlers
 * (SIGKILL, a crash). setpriv execs the command, so the pid stays the child's.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';

const live = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a signal is all that can still be sent.
  process.on('exit', () => {
    for (const [child, signal] of live) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  });
}

let pdeathsig: boolean | undefined;
function canUsePdeathsig(): boolean {
  pdeathsig ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  return pdeathsig;
}

export interface SpawnTrackedOptions extends SpawnOptions {
  /** Sent when this process exits (or dies) while the child still runs. Default SIGKILL. */
  exitSignal?: NodeJS.Signals;
}

/** spawn() whose child never outlives this process. stdio defaults to ignore / pipe / pipe. */
export function spawnTracked(command: string, args: string[], opts: SpawnTrackedOptions = {}): ChildProcess {
  const { exitSignal = 'SIGKILL', ...spawnOptions } = opts;
  const [cmd, cmdArgs] = canUsePdeathsig()
    ? ['setpriv', ['--pdeathsig', exitSignal.replace(/^SIG/, ''), '--', command, ...args]]
    : [command, args];
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  live.set(child, exitSignal);
  child.once('exit', () => live.delete(child));
  // Without a listener a failed spawn (ENOENT, EACCES) is an unhandled 'error' event that kills this process;
  // callers learn of it through exited() / their own 'error' listener.
  child.on('error', () => live.delete(child));
  installExitHook();
  return child;
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** "exited with code 1" / "was killed by SIGKILL"; undefined while it runs. */
export function describeExit(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
  if (child.signalCode !== null) return `was killed by ${child.signalCode}`;
  return undefined;
}

/** Resolves true once the child has exited, false after timeoutMs. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** `signal` (default SIGTERM), then SIGKILL after graceMs; resolves once the process has exited. */
export async function terminate(child: ChildProcess, graceMs = 5_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.pid === undefined || hasExited(child)) return;
  child.kill(signal);
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, graceMs);
}

/** Keeps the last `keep` lines a child wrote on stdout and stderr ("stdout: ..."), and tells listeners of each line. */
export class OutputTail {
  private readonly lines: string[] = [];
  private readonly partial: Record<string, string> = {};
  private readonly listeners = new Set<(line: string, label: string) => void>();

  constructor(private readonly keep = 60) {}

  /** Follows the child's stdout and stderr. */
  follow(child: ChildProcess): this {
    this.attach(child.stdout, 'stdout');
    this.attach(child.stderr, 'stderr');
    return this;
  }

  attach(stream: NodeJS.ReadableStream | null | undefined, label: string): void {
    stream?.on('data', (chunk: Buffer) => {
      const text = (this.partial[label] ?? '') + chunk.toString('utf8');
      const parts = text.split(/\r?\n/);
      this.partial[label] = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.push(label, line);
    });
  }

  onLine(listener: (line: string, label: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  push(label: string, line: string): void {
    this.lines.push(`${label}: ${line}`);
    if (this.lines.length > this.keep) this.lines.shift();
    for (const l of this.listeners) l(line, label);
  }

  /** The kept lines without their "stream: " prefix. */
  plainLines(): string[] {
    return this.lines.map((l) => l.replace(/^\w+: /, ''));
  }

  text(): string {
    const pending = Object.entries(this.partial)
      .filter(([, v]) => v.trim())
      .map(([k, v]) => `${k}: ${v}`);
    const all = [...this.lines, ...pending];
    return all.length ? all.join('\n') : '(no output)';
  }
}
