/**
 * The MinIO server the tests and the benchmark use as a real S3-protocol store (the project itself talks to any
 * S3-compatible store through the AWS SDK v3; MinIO is AGPL and used here as a test server only).
 *
 * Built from source with `go install` once and cached under `${XDG_CACHE_HOME:-~/.cache}/gudang/minio-<version>/minio`.
 * A binary already at /tmp/minio-bin/minio (or MINIO_PATH) is copied into the cache instead of building.
 *
 *   tsx src/dev/minio.ts install   # build (if needed) and print the path
 *   tsx src/dev/minio.ts path      # print the path that would be used
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { findFreePorts } from './ports';
import { spawnTracked, terminate } from './processes';
import { findGo, formatSeconds, goInstall, gudangCacheDir, isExecutable } from './temporal-cli';

/** A pseudo-version of github.com/minio/minio whose go.mod has no `replace` (so `go install pkg@version` works). */
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
const PACKAGE = 'github.com/minio/minio';
const PREBUILT = ['/tmp/minio-bin/minio'];

function log(message: string): void {
  process.stderr.write(`[minio] ${message}\n`);
}

export function cachedMinioPath(): string {
  return path.join(gudangCacheDir(), `minio-${MINIO_VERSION}`, 'minio');
}

/** MINIO_PATH, else the cached build; undefined when neither is there. */
export async function findMinio(): Promise<string | undefined> {
  const fromEnv = process.env.MINIO_PATH;
  if (fromEnv && (await isExecutable(fromEnv))) return path.resolve(fromEnv);
  const cached = cachedMinioPath();
  return (await isExecutable(cached)) ? cached : undefined;
}

/** Builds (or copies a prebuilt) MinIO into the cache; a no-op when it is there already. */
export async function installMinio(): Promise<string> {
  const target = cachedMinioPath();
  if (await isExecutable(target)) return target;
  await mkdir(gudangCacheDir(), { recursive: true });
  const staging = await mkdtemp(path.join(gudangCacheDir(), '.minio-build-'));
  try {
    const prebuilt = [process.env.MINIO_PATH, ...PREBUILT].filter((p): p is string => !!p);
    let built: string | undefined;
    for (const candidate of prebuilt) {
      if (await isExecutable(candidate)) {
        log(`copying the prebuilt ${candidate}`);
        built = path.join(staging, 'minio');
        await copyFile(candidate, built);
        break;
      }
    }
    if (!built) {
      const go = await findGo();
      if (!go) throw new Error(`cannot build MinIO: no Go toolchain ("go") was found. Install Go 1.25 or newer from https://go.dev/dl/ into /usr/local/go, or point MINIO_PATH at a minio binary.`);
      const started = Date.now();
      log(`building MinIO ${MINIO_VERSION} with ${go} (a few minutes)`);
      const ticker = setInterval(() => log(`  still building... ${formatSeconds(Date.now() - started)} elapsed`), 20_000);
      ticker.unref();
      try {
        await goInstall(go, [`${PACKAGE}@${MINIO_VERSION}`], staging, log);
      } finally {
        clearInterval(ticker);
      }
      built = path.join(staging, 'minio');
      log(`built in ${formatSeconds(Date.now() - started)}`);
    }
    if (!(await isExecutable(built))) throw new Error(`${built} was not produced`);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(built, target);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return target;
}

async function main(command: string): Promise<number> {
  if (command === 'install') {
    process.stdout.write(`${(await findMinio()) ?? (await installMinio())}\n`);
    return 0;
  }
  if (command === 'path') {
    const found = await findMinio();
    if (!found) {
      log('no MinIO found (MINIO_PATH, cache); run: npm run minio:install');
      return 1;
    }
    process.stdout.write(`${found}\n`);
    return 0;
  }
  log(`unknown command "${command}". Usage: tsx src/dev/minio.ts install|path`);
  return 2;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2] ?? 'path').then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      log(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}

export interface RunningMinio {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** AWS SDK settings for this server, as environment variables. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts MinIO on loopback with a fresh data folder; resolves when /minio/health/live answers 200. */
export async function startMinio(opts: { dataDir?: string; readyTimeoutMs?: number } = {}): Promise<RunningMinio> {
  const bin = (await findMinio()) ?? (await installMinio());
  const [port, consolePort] = await findFreePorts(2);
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'gudang-minio-')));
  const accessKey = `gudang${randomBytes(4).toString('hex')}`;
  const secretKey = randomBytes(18).toString('base64url');
  const child = spawnTracked(bin, ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
    env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await terminate(child, 5000);
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`MinIO (${bin}) exited with code ${child.exitCode} before it was ready on ${endpoint}: ${stderr}`);
    const ok = await fetch(`${endpoint}/minio/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`minio did not become ready within ${opts.readyTimeoutMs ?? 60_000} ms: ${stderr}`);
    }
    await sleep(200);
  }
  return {
    endpoint,
    accessKey,
    secretKey,
    env: { GUDANG_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: 'us-east-1' },
    stop,
  };
}
