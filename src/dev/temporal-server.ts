/**
 * Starts a local Temporal dev server (`temporal server start-dev`) for
 * development and integration tests.
 *
 * - Uses the CLI found by findTemporalCli() (env TEMPORAL_CLI_PATH, PATH, or
 *   the cached build from `npm run temporal:install`), building it if needed.
 * - Binds everything to 127.0.0.1 on free ports, so several servers (one per
 *   test file) can run side by side.
 * - Registers gudang's custom search attributes at start-up.
 * - Waits until the frontend answers gRPC health checks and the namespace is
 *   visible; fails with the tail of the server's output otherwise.
 * - Never leaves the server behind: stop() terminates it, and the process
 *   tracker (./processes.ts) kills any left over when this process exits.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findFreePorts } from './ports';
import { OutputTail, describeExit, spawnTracked, terminate } from './processes';
import { ensureTemporalCli } from './temporal-cli';

export { findFreePorts };

export interface DevServer {
  /** gRPC frontend address, host:port. */
  address: string;
  /** Web UI URL; undefined when headless. */
  uiUrl?: string;
  namespace: string;
  /** Stops the server and waits until its process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Server process id. */
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
 * it is ready. Builds the CLI first when there is none and Go is installed
 * (ensureTemporalCli); without Go it fails saying what to install.
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

  const cli = await ensureTemporalCli();

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

    const started = Date.now();
    const child = spawnTracked(cli, args);
    const tail = new OutputTail(OUTPUT_TAIL_LINES).follow(child);
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
        stop: () => (stopping ??= terminate(child, STOP_GRACE_MS)),
      };
    }

    await terminate(child, STOP_GRACE_MS);
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
  throw lastFailure ?? new Error(`Temporal dev server (${cli}) did not start after ${MAX_PORT_ATTEMPTS} attempts on fresh ports`);
}
