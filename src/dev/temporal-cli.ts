/**
 * Locating and installing the Temporal CLI (`temporal`), whose
 * `server start-dev` command is the local Temporal server used by the dev
 * tooling and the integration tests.
 *
 * The SDK's own dev-server download needs internet access, so the CLI is
 * built from source with `go install` once and cached under
 * `${XDG_CACHE_HOME:-~/.cache}/gudang/temporal-<version>/temporal`.
 *
 * Script usage:
 *   tsx src/dev/temporal-cli.ts install   # build (if needed) and print the path
 *   tsx src/dev/temporal-cli.ts path      # print the path of the CLI that would be used
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI version that is built by {@link installTemporalCli}. */
export const TEMPORAL_CLI_VERSION = '1.5.1';

/** Go package built by {@link installTemporalCli}. */
const CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';

/** Where Go is commonly installed when it is not on PATH. */
const GO_FALLBACK_LOCATIONS = ['/usr/local/go/bin/go', path.join(os.homedir(), 'go', 'bin', 'go'), '/usr/lib/go/bin/go'];

function log(message: string): void {
  process.stderr.write(`[temporal-cli] ${message}\n`);
}

/** `${XDG_CACHE_HOME:-~/.cache}/gudang` */
export function gudangCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'gudang');
}

/** Path of the cached CLI binary (whether or not it exists yet). */
export function cachedTemporalCliPath(): string {
  return path.join(gudangCacheDir(), `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Searches PATH for an executable called `name` (like `which`). */
async function whichOnPath(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Runs `<cli> --version` and returns the CLI version (e.g. "1.5.1"), or
 * undefined when it cannot be run or its output is not recognised.
 * Output looks like: `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`.
 */
export function temporalCliVersion(cli: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cli, ['--version'], { timeout: 15_000 }, (error, stdout) => {
      if (error) return resolve(undefined);
      const match = /temporal version v?(\d+\.\d+\.\d+\S*)/i.exec(String(stdout));
      resolve(match?.[1]);
    });
  });
}

/**
 * Finds a usable Temporal CLI, in this order:
 *  1. env TEMPORAL_CLI_PATH (if it points at an executable file);
 *  2. `temporal` on PATH, only if `temporal --version` reports a 1.x version;
 *  3. the cached build from {@link installTemporalCli}.
 * Returns undefined when none is found.
 */
export async function findTemporalCli(): Promise<string | undefined> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (await isExecutable(resolved)) return resolved;
    log(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file; ignoring it`);
  }

  const onPath = await whichOnPath('temporal');
  if (onPath) {
    const version = await temporalCliVersion(onPath);
    if (version?.startsWith('1.')) return onPath;
  }

  const cached = cachedTemporalCliPath();
  if (await isExecutable(cached)) return cached;

  return undefined;
}

/** Finds the `go` binary on PATH or in a few usual install locations. */
export async function findGo(): Promise<string | undefined> {
  const onPath = await whichOnPath('go');
  if (onPath) return onPath;
  for (const candidate of GO_FALLBACK_LOCATIONS) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Runs `go install <args>` with CGO off and GOBIN=`gobin`, echoing its output through `log`. */
export function goInstall(go: string, args: string[], gobin: string, log: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', ...args], {
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const onOutput = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        log(`  ${line}`);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', (err) => reject(new Error(`could not run ${go} (go install ${args.at(-1)}): ${err.message}; check that it is an executable Go toolchain`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      reject(new Error(`go install ${args[args.length - 1]} failed (${signal ? `signal ${signal}` : `exit code ${code}`}).\nLast output:\n${tail.join('\n') || '(none)'}`));
    });
  });
}

/**
 * Builds the Temporal CLI v{@link TEMPORAL_CLI_VERSION} with `go install` into
 * the cache and returns its path. A no-op (returns at once) when the cached
 * binary already exists. The build goes to a staging directory first and is
 * moved into place at the end, so an interrupted build never leaves a broken
 * binary behind and concurrent installs do not clash.
 */
export async function installTemporalCli(): Promise<string> {
  const target = cachedTemporalCliPath();
  if (await isExecutable(target)) {
    return target;
  }

  const go = await findGo();
  if (!go) throw new Error(NO_GO_MESSAGE);

  // One build at a time per cache: a second caller (another test file, the demo) waits for the first one.
  const release = await acquireBuildLock(target);
  if (!release) return target;
  try {
    return await build(go, target);
  } finally {
    await release();
  }
}

/** What to do when there is no Temporal CLI and no Go to build one. */
export const NO_GO_MESSAGE =
  `no Temporal CLI found and no Go toolchain to build one ("go" is not on PATH nor in ${GO_FALLBACK_LOCATIONS.join(', ')}). ` +
  `Either install Go 1.25 or newer from https://go.dev/dl/ into /usr/local/go (Debian 12's golang-go is 1.19, too old) and run ` +
  `npm run temporal:install, or set TEMPORAL_CLI_PATH to a Temporal CLI 1.x binary (temporal server start-dev must work).`;

/**
 * Finds the Temporal CLI, or builds it when Go is there (saying so, and how long it took); without Go it fails with
 * NO_GO_MESSAGE. Used by the demo, the dev server and the test helpers, so a fresh machine needs no separate step.
 */
export async function ensureTemporalCli(): Promise<string> {
  const found = await findTemporalCli();
  if (found) return found;
  if (!(await findGo())) throw new Error(NO_GO_MESSAGE);
  log(
    `no Temporal CLI found (TEMPORAL_CLI_PATH, PATH, ${cachedTemporalCliPath()}): building v${TEMPORAL_CLI_VERSION} from source once; ` +
      `with an empty Go build cache that takes minutes (about 4 on an idle 2-core machine), with a warm one much less; it is cached for next time`,
  );
  return installTemporalCli();
}

const LOCK_POLL_MS = 2_000;

/**
 * Takes the build lock (a directory next to the target holding the builder's pid). Returns its release function,
 * or undefined when another process finished the build while this one waited.
 */
async function acquireBuildLock(target: string): Promise<(() => Promise<void>) | undefined> {
  const lock = `${target}.building`;
  await mkdir(path.dirname(target), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      return () => rm(lock, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && !isAlive(holder)) {
      log(`removing the build lock of process ${holder}, which is gone (${lock})`);
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (!announced) {
      log(`another process (pid ${Number.isInteger(holder) ? holder : 'unknown'}) is building the Temporal CLI; waiting for it (${lock})`);
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    if (await isExecutable(target)) return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function build(go: string, target: string): Promise<string> {
  if (await isExecutable(target)) return target;
  const targetDir = path.dirname(target);
  const cacheDir = gudangCacheDir();
  await mkdir(cacheDir, { recursive: true });
  const stagingDir = await mkdtemp(path.join(cacheDir, `.temporal-${TEMPORAL_CLI_VERSION}-build-`));

  const started = Date.now();
  log(`building Temporal CLI v${TEMPORAL_CLI_VERSION} with ${go} (several minutes on a cold Go build cache; progress every 20 s)`);
  log(`  go install ${CLI_PACKAGE}@v${TEMPORAL_CLI_VERSION} -> ${target}`);

  const ticker = setInterval(() => {
    log(`  still building... ${formatSeconds(Date.now() - started)} elapsed`);
  }, 20_000);
  ticker.unref();

  try {
    await goInstall(
      go,
      ['-ldflags', `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`, `${CLI_PACKAGE}@v${TEMPORAL_CLI_VERSION}`],
      stagingDir,
      log,
    );

    const built = path.join(stagingDir, 'temporal');
    if (!(await isExecutable(built))) {
      throw new Error(`go install finished but ${built} was not produced`);
    }
    await mkdir(targetDir, { recursive: true });
    await rename(built, target);
  } finally {
    clearInterval(ticker);
    await rm(stagingDir, { recursive: true, force: true });
  }

  const version = await temporalCliVersion(target);
  log(`built ${target} (version ${version ?? 'unknown'}) in ${formatSeconds(Date.now() - started)}`);
  return target;
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'path';
  switch (command) {
    case 'install': {
      // A usable CLI from TEMPORAL_CLI_PATH or PATH makes the build unnecessary.
      const existing = await findTemporalCli();
      if (existing && existing !== cachedTemporalCliPath()) {
        log(`using the Temporal CLI at ${existing}; not building one (unset TEMPORAL_CLI_PATH or remove it from PATH to build)`);
      }
      const cli = existing ?? (await installTemporalCli());
      process.stdout.write(`${cli}\n`);
      return 0;
    }
    case 'path': {
      const cli = await findTemporalCli();
      if (!cli) {
        log('no Temporal CLI found (checked TEMPORAL_CLI_PATH, PATH and the cache); build it with: npm run temporal:install');
        return 1;
      }
      process.stdout.write(`${cli}\n`);
      return 0;
    }
    default:
      log(`unknown command "${command}". Usage: tsx src/dev/temporal-cli.ts install|path`);
      return 2;
  }
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
