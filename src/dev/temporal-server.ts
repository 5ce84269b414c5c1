/**
 * Starts a local Temporal dev server (`temporal server start-dev`) for
 * development and integration tests.
 *
 * - Uses the CLI found by findTemporalCli() (env TEMPORAL_CLI_PATH, PATH, or
 *   the cached build from `npm run temporal:install`).
 * - Binds everything to 127.0.0.1 on free ports, so several servers (one per
 *   test file) can run side by side.
 * - Registers gudang's custom search attributes at start-up.
 * - Waits until the frontend answers gRPC health checks and the namespace is
 *   visible; fails with the tail of the server's output otherwise.
 * - Never leaves the server behind: stop() terminates it, and a process
 *   'exit' hook (plus, on Linux, a parent-death signal) kills any left over.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findFreePorts } from './ports';
import { findTemporalCli } from './temporal-cli';

export { findFreePorts };

export interface DevServer {
  /** gRPC frontend address, host:port. */
  address: string;
  /** Web UI URL; undefined when headless. */
  uiUrl?: string;
  namespace: string;
  /** Stops the server and waits until its process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Server process id (absent for the SDK-download fallback). */
  pid?: number;
  /** Milliseconds from spawn until the server was ready. */
  startupMs?: number;
}

export interface StartDevServerOptions {
  /** SQLite file to persist to; in memory when omitted. */
  dbFile?: string;
  /** Disable the Web UI. Default false. */
  headless?: boolean;
  /** Namespace to use (created at start if it is not "default"). Default "default". */
  namespace?: string;
  /** Server log level: debug | info | warn | error | never. Default "warn". */
  logLevel?: string;
  /** How long to wait for readiness. Default 60 000 ms. */
  readyTimeoutMs?: number;
  /** Fixed gRPC port, e.g. to restart a server on the same address after stopping it. Default: a free port. */
  port?: number;
  /** Fixed Web UI port (ignored when headless). Default: a free port. */
  uiPort?: number;
}

/** Custom search attributes gudang's workflows and schedules use. */
export const GUDANG_SEARCH_ATTRIBUTES = {
  GudangDataset: 'Keyword',
  GudangPeriod: 'Keyword',
  GudangTrigger: 'Keyword',
  GudangRunKey: 'Keyword',
} as const;

const HOST = '127.0.0.1';
const OUTPUT_TAIL_LINES = 60;
const STOP_GRACE_MS = 5_000;
const MAX_PORT_ATTEMPTS = 3;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'never'];

function log(message: string): void {
  process.stderr.write(`[temporal-server] ${message}\n`);
}

// ---------------------------------------------------------------------------
// Orphan protection

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: SIGKILL is the only thing that is
    // certain to take effect after this process is gone.
    process.on('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

let pdeathsigSupport: boolean | undefined;
/**
 * On Linux, util-linux `setpriv --pdeathsig KILL` makes the kernel kill the
 * server if this Node process dies without running its 'exit' handlers
 * (SIGKILL, crash). setpriv execs the CLI, so the pid stays the server's.
 */
function canUsePdeathsig(): boolean {
  if (pdeathsigSupport === undefined) {
    pdeathsigSupport = false;
    if (process.platform === 'linux') {
      const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5_000 });
      pdeathsigSupport = probe.status === 0;
    }
  }
  return pdeathsigSupport;
}

// ---------------------------------------------------------------------------
// Helpers

/** Keeps the last lines written by the child on stdout and stderr. */
class OutputTail {
  private readonly lines: string[] = [];
  private partial: Record<string, string> = {};

  attach(stream: NodeJS.ReadableStream | null, label: string): void {
    if (!stream) return;
    stream.on('data', (chunk: Buffer) => {
      const text = (this.partial[label] ?? '') + chunk.toString('utf8');
      const parts = text.split(/\r?\n/);
      this.partial[label] = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.push(`${label}: ${line}`);
    });
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > OUTPUT_TAIL_LINES) this.lines.shift();
  }

  text(): string {
    const pending = Object.entries(this.partial)
      .filter(([, v]) => v.trim())
      .map(([k, v]) => `${k}: ${v}`);
    const all = [...this.lines, ...pending];
    return all.length ? all.join('\n') : '(no output)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
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

/** SIGTERM, then SIGKILL after STOP_GRACE_MS; resolves once the process has exited. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return; // never spawned
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, STOP_GRACE_MS)) return;
  child.kill('SIGKILL');
  await waitForExit(child, STOP_GRACE_MS);
}

function describeExit(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
  if (child.signalCode !== null) return `was killed by ${child.signalCode}`;
  return undefined;
}

/**
 * Polls until the frontend reports SERVING on the gRPC health service and the
 * namespace can be described; otherwise says why not.
 */
async function waitUntilReady(
  child: ChildProcess,
  address: string,
  namespace: string,
  deadline: number,
): Promise<{ ready: true } | { ready: false; reason: string }> {
  let lastError = 'not attempted';
  let connection: Connection | undefined;
  try {
    while (Date.now() < deadline) {
      const exit = describeExit(child);
      if (exit) return { ready: false, reason: `the server ${exit}` };
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 2_000 });
        const conn = connection;
        const rpcDeadline = Date.now() + 2_000;
        const health = await conn.withDeadline(rpcDeadline, () => conn.healthService.check({}));
        // grpc.health.v1 ServingStatus: 1 = SERVING
        if (health.status !== 1) throw new Error(`health status ${String(health.status)}`);
        await conn.withDeadline(rpcDeadline, () => conn.workflowService.describeNamespace({ namespace }));
        return { ready: true };
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await sleep(150);
    }
    return { ready: false, reason: `not ready in time (last error: ${lastError})` };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------

/**
 * Starts `temporal server start-dev` on free 127.0.0.1 ports and waits until
 * it is ready. Falls back to the SDK's downloadable dev server (internet
 * needed) when no Temporal CLI is installed.
 */
export async function startDevServer(opts: StartDevServerOptions = {}): Promise<DevServer> {
  const namespace = opts.namespace ?? 'default';
  const headless = opts.headless ?? false;
  const logLevel = opts.logLevel ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`startDevServer: logLevel must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const dbFile = opts.dbFile ? path.resolve(opts.dbFile) : undefined;
  if (dbFile) await mkdir(path.dirname(dbFile), { recursive: true });

  const cli = await findTemporalCli();
  if (!cli) {
    return startSdkDownloadedServer({ namespace, headless, logLevel, dbFile, port: opts.port, uiPort: opts.uiPort });
  }

  let lastFailure: Error | undefined;
  for (let attempt = 1; attempt <= MAX_PORT_ATTEMPTS; attempt++) {
    const [freePort, freeUiPort, httpPort, metricsPort] = (await findFreePorts(4)) as [number, number, number, number];
    const port = opts.port ?? freePort;
    const uiPort = opts.uiPort ?? freeUiPort;
    const address = `${HOST}:${port}`;
    const args = [
      'server',
      'start-dev',
      '--ip',
      HOST,
      '--port',
      String(port),
      '--http-port',
      String(httpPort),
      '--metrics-port',
      String(metricsPort),
      '--log-level',
      logLevel,
      '--color',
      'never',
    ];
    if (headless) args.push('--headless');
    else args.push('--ui-port', String(uiPort));
    if (namespace !== 'default') args.push('--namespace', namespace);
    if (dbFile) {
      args.push('--db-filename', dbFile, '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF');
    }
    for (const [name, type] of Object.entries(GUDANG_SEARCH_ATTRIBUTES)) {
      args.push('--search-attribute', `${name}=${type}`);
    }

    const [command, commandArgs] = canUsePdeathsig()
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', cli, ...args]]
      : [cli, args];

    const started = Date.now();
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    const tail = new OutputTail();
    tail.attach(child.stdout, 'stdout');
    tail.attach(child.stderr, 'stderr');
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

    const result = await Promise.race([
      waitUntilReady(child, address, namespace, started + readyTimeoutMs),
      spawnError.then((err) => ({ ready: false as const, reason: `could not spawn ${cli}: ${err.message}` })),
    ]);

    if (result.ready) {
      const startupMs = Date.now() - started;
      let stopping: Promise<void> | undefined;
      return {
        address,
        uiUrl: headless ? undefined : `http://${HOST}:${uiPort}`,
        namespace,
        pid: child.pid,
        startupMs,
        stop: () => (stopping ??= terminate(child)),
      };
    }

    await terminate(child);
    const output = tail.text();
    lastFailure = new Error(
      `Temporal dev server (${cli}) did not become ready at ${address}: ${result.reason}.\n` +
        `Command: ${cli} ${args.join(' ')}\n` +
        `Last server output:\n${output}`,
    );
    // Another process may have grabbed one of the ports between the probe and
    // the bind: try again with fresh ports. Anything else is fatal.
    if (!/address already in use|bind:/i.test(output)) break;
  }
  throw lastFailure ?? new Error('Temporal dev server failed to start');
}

/** Fallback: the SDK downloads and runs the dev server itself (needs internet). */
async function startSdkDownloadedServer(o: {
  namespace: string;
  headless: boolean;
  logLevel: string;
  dbFile?: string;
  port?: number;
  uiPort?: number;
}): Promise<DevServer> {
  log(
    'no Temporal CLI found (TEMPORAL_CLI_PATH, PATH, cache); falling back to the SDK download via ' +
      "TestWorkflowEnvironment.createLocal(), which only works with internet access. Run 'npm run temporal:install' to build the CLI.",
  );
  const [{ TestWorkflowEnvironment }, { defineSearchAttributeKey, SearchAttributeType }] = await Promise.all([
    import('@temporalio/testing'),
    import('@temporalio/common'),
  ]);
  const [freePort, freeUiPort] = (await findFreePorts(2)) as [number, number];
  const port = o.port ?? freePort;
  const uiPort = o.uiPort ?? freeUiPort;
  const started = Date.now();
  let env: Awaited<ReturnType<typeof TestWorkflowEnvironment.createLocal>>;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        ip: HOST,
        port,
        namespace: o.namespace,
        ui: !o.headless,
        uiPort: o.headless ? undefined : uiPort,
        dbFilename: o.dbFile,
        log: { format: 'pretty', level: o.logLevel },
        searchAttributes: Object.keys(GUDANG_SEARCH_ATTRIBUTES).map((name) =>
          defineSearchAttributeKey(name, SearchAttributeType.KEYWORD),
        ),
        extraArgs: o.dbFile ? ['--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF'] : [],
      },
    });
  } catch (err) {
    throw new Error(
      `No Temporal CLI is installed and the SDK could not download a dev server either: ${err instanceof Error ? err.message : String(err)}. ` +
        `Run 'npm run temporal:install' (needs Go) or set TEMPORAL_CLI_PATH.`,
      { cause: err },
    );
  }
  let stopping: Promise<void> | undefined;
  return {
    address: env.address,
    uiUrl: o.headless ? undefined : `http://${HOST}:${uiPort}`,
    namespace: o.namespace,
    startupMs: Date.now() - started,
    stop: () => (stopping ??= env.teardown()),
  };
}
