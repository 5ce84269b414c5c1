import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../../errors';
import { htmlReceived, looksLikeHtml } from './errors';
import type { RemoteSettings } from './settings';
import type { RemoteBody, RemoteFile, RemoteHead } from './types';
import { TransientFetchError } from './types';

// The bounded local cache remote files are streamed into. One folder per (URI, version):
//   <GUDANG_CACHE_DIR>/<hash of uri + etag>/<file>        the complete, verified copy
//                                          /<file>.part   an interrupted download (resumed with a ranged request)
//                                          /meta.json     uri, etag, size, sha256, fetched at (touched on every use)
//                                          /lock          pid of the process downloading into the folder
// The cache is bounded (GUDANG_CACHE_MAX_BYTES, least recently used first) and cleaned (entries unused for
// GUDANG_CACHE_MAX_AGE_HOURS go, and a published load's copy is removed at once).

export interface CachedFile {
  path: string;
  uri: string;
  etag?: string;
  size: number;
  sha256: string;
  mtimeMs: number;
}

interface Meta {
  uri: string;
  etag?: string;
  size: number;
  sha256: string;
  fetchedAt: string;
}

export interface FetchOptions {
  settings: RemoteSettings;
  /** The source's format ("excel", "csv", ...): an HTML page instead is an error naming what came. */
  format: string;
  /** File name of the cached copy (the registry's name). */
  name: string;
  /** Refuse a copy whose sha256 differs (a chunk on another worker verifying the planned file). */
  expectSha256?: string;
  heartbeat?: (details: Record<string, unknown>) => void;
  signal?: AbortSignal;
}

class FetchTimeout extends Error {
  override readonly name = 'FetchTimeout';
}

/** Aborts an attempt when nothing arrives for the timeout (no headers, or no body bytes), or when the caller cancels. */
class Watchdog {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    outer?: AbortSignal,
  ) {
    outer?.addEventListener('abort', () => this.controller.abort(outer.reason), { once: true });
    this.poke();
  }
  poke(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new FetchTimeout(`no response for ${this.ms} ms`)), this.ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
  get timedOut(): boolean {
    return this.controller.signal.aborted && this.controller.signal.reason instanceof FetchTimeout;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);

export function entryDir(settings: RemoteSettings, uri: string, head: RemoteHead): string {
  const version = head.etag ?? `size:${head.size ?? 'unknown'}`;
  return path.join(settings.GUDANG_CACHE_DIR, digest(`${uri}\n${version}`));
}

async function sizeOf(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).size;
  } catch {
    return undefined;
  }
}

/** The sha256 and MD5 of a download, computed as its bytes are written (a resumed one first reads what it kept). */
class Digests {
  private readonly sha = createHash('sha256');
  private readonly md5 = createHash('md5');
  update(buf: Buffer): void {
    this.sha.update(buf);
    this.md5.update(buf);
  }
  async updateFrom(p: string, bytes: number): Promise<void> {
    if (bytes === 0) return;
    for await (const chunk of createReadStream(p, { start: 0, end: bytes - 1 })) this.update(chunk as Buffer);
  }
  digest(): { sha256: string; md5: string } {
    return { sha256: this.sha.digest('hex'), md5: this.md5.digest('hex') };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One downloader per cache folder across processes: a lock file holding the pid (taken over from a dead pid). */
async function withLock<T>(dir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = path.join(dir, 'lock');
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (!pid || !alive(pid)) {
        await rm(lock, { force: true });
        continue;
      }
      if (signal?.aborted) throw signal.reason;
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

const inProcess = new Map<string, Promise<CachedFile>>();

async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
  } catch {
    return undefined;
  }
}

async function complete(dir: string, name: string): Promise<CachedFile | undefined> {
  const meta = await readMeta(dir);
  const p = path.join(dir, name);
  if (!meta) return undefined;
  const st = await stat(p).catch(() => undefined);
  if (!st || st.size !== meta.size) return undefined;
  const now = new Date();
  await utimes(path.join(dir, 'meta.json'), now, now); // last use, for the LRU bound
  return { path: p, uri: meta.uri, etag: meta.etag, size: meta.size, sha256: meta.sha256, mtimeMs: st.mtimeMs };
}

/** Removes entries unused for longer than the age limit, then least recently used ones until `incoming` fits. */
export async function trimCache(settings: RemoteSettings, incoming: number, keep: string): Promise<void> {
  const root = settings.GUDANG_CACHE_DIR;
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  const entries: { dir: string; used: number; bytes: number }[] = [];
  for (const n of names) {
    const dir = path.join(root, n);
    if (dir === keep) continue;
    const files = await readdir(dir).catch(() => [] as string[]);
    if (files.includes('lock')) continue; // being downloaded right now
    let bytes = 0;
    for (const f of files) bytes += (await sizeOf(path.join(dir, f))) ?? 0;
    const used = (await stat(path.join(dir, 'meta.json')).catch(() => stat(dir).catch(() => undefined)))?.mtimeMs ?? 0;
    entries.push({ dir, used, bytes });
  }
  const oldest = Date.now() - settings.GUDANG_CACHE_MAX_AGE_HOURS * 3600_000;
  let total = entries.reduce((s, e) => s + e.bytes, 0);
  entries.sort((a, b) => a.used - b.used);
  for (const e of entries) {
    if (e.used >= oldest && total + incoming <= settings.GUDANG_CACHE_MAX_BYTES) continue;
    await rm(e.dir, { recursive: true, force: true });
    total -= e.bytes;
  }
}

/** Removes a cached copy (a published load's file); other processes' open reads are not affected. */
export async function releaseCached(settings: RemoteSettings, cachedPath: string): Promise<void> {
  const dir = path.dirname(cachedPath);
  if (path.dirname(dir) !== path.resolve(settings.GUDANG_CACHE_DIR)) return; // not ours
  await rm(dir, { recursive: true, force: true });
}

/** Writes the body to `part` (appending when it continues it) and hashes it; returns the bytes now in `part`. */
async function receive(file: RemoteFile, res: RemoteBody, part: string, opts: FetchOptions, have: number, dog: Watchdog, digests: Digests): Promise<number> {
  const append = res.offset > 0 && res.offset === have;
  if (append) await digests.updateFrom(part, have);
  const fh = await open(part, append ? 'a' : 'w');
  let written = append ? have : 0;
  let received = 0;
  let first = true;
  let lastBeat = 0;
  try {
    for await (const chunk of res.body) {
      dog.poke();
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (first && written === 0) {
        if (looksLikeHtml(buf, res.contentType)) throw htmlReceived(file, opts.format, res.contentType, buf);
        first = false;
      }
      await fh.write(buf);
      digests.update(buf);
      written += buf.length;
      received += buf.length;
      if (Date.now() - lastBeat > 1000) {
        opts.heartbeat?.({ phase: 'fetching', uri: file.uri, bytes: written, sizeBytes: res.size });
        lastBeat = Date.now();
      }
    }
  } catch (err) {
    if (err instanceof InputError || opts.signal?.aborted) throw err;
    if (dog.timedOut) throw new TransientFetchError(`${file.uri}: timed out: no data for ${opts.settings.GUDANG_FETCH_TIMEOUT_MS} ms after ${written} bytes; kept them to resume`, false);
    const expected = res.length !== undefined ? ` of ${res.length}` : '';
    throw new TransientFetchError(`${file.uri}: the download broke off after ${received}${expected} bytes (${(err as Error).message}); kept ${written} bytes to resume`, true);
  } finally {
    await fh.close();
  }
  if (res.length !== undefined && received < res.length) {
    throw new TransientFetchError(`${file.uri}: body shorter than its Content-Length (${received} of ${res.length} bytes)`, true);
  }
  return written;
}

async function download(file: RemoteFile, head: RemoteHead, dir: string, opts: FetchOptions, dog: Watchdog): Promise<CachedFile> {
  const done = await complete(dir, opts.name);
  if (done) return done;
  await trimCache(opts.settings, head.size ?? 0, dir);
  if (head.size !== undefined && head.size > opts.settings.GUDANG_CACHE_MAX_BYTES) {
    throw new InputError('ConfigError', `${file.uri}: ${head.size} bytes do not fit the download cache (GUDANG_CACHE_MAX_BYTES=${opts.settings.GUDANG_CACHE_MAX_BYTES})`, { uri: file.uri });
  }
  const part = path.join(dir, `${opts.name}.part`);
  const target = path.join(dir, opts.name);
  const have = file.resumable ? ((await sizeOf(part)) ?? 0) : 0;
  dog.poke();
  const res = await file.open(have, head.etag, dog.controller.signal);
  const digests = new Digests();
  const size = await receive(file, res, part, opts, have, dog, digests);
  dog.stop();
  const total = res.size ?? head.size;
  if (total !== undefined && size !== total) {
    throw new TransientFetchError(`${file.uri}: received ${size} bytes, the store reports ${total}`, true);
  }
  const { sha256, md5 } = digests.digest();
  const vouched = res.md5 ?? head.md5;
  if (vouched && vouched.toLowerCase() !== md5) {
    await rm(part, { force: true });
    throw new TransientFetchError(`${file.uri}: checksum mismatch (MD5 ${md5}, the store says ${vouched})`, true);
  }
  if (opts.expectSha256 && opts.expectSha256 !== sha256) {
    await rm(part, { force: true });
    throw new InputError('SourceFormatError', `${file.uri}: changed at the source since the load was planned (sha256 ${sha256}, planned ${opts.expectSha256}); run the load again`, {
      uri: file.uri,
    });
  }
  await rename(part, target);
  // whole seconds, so a worker fetching the same file again can give its copy the very same mtime (ensurePlannedCopy)
  const now = Math.floor(Date.now() / 1000);
  await utimes(target, now, now);
  const meta: Meta = { uri: file.uri, etag: res.etag ?? head.etag, size, sha256, fetchedAt: new Date().toISOString() };
  await writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta));
  const st = await stat(target);
  return { path: target, uri: file.uri, etag: meta.etag, size, sha256, mtimeMs: st.mtimeMs };
}

/**
 * Streams a remote file into the cache (or finds it there) and returns the local copy. Timeouts, 5xx, short bodies
 * and checksum mismatches are tried again with back-off (GUDANG_FETCH_ATTEMPTS); an interrupted body resumes from the
 * bytes already on disk. When the tries are used up, short bodies and checksum mismatches fail for good
 * (SourceFetchFailed); timeouts and 5xx are left to the activity's retry policy.
 */
export async function fetchToCache(file: RemoteFile, opts: FetchOptions): Promise<CachedFile> {
  const { settings } = opts;
  let last: TransientFetchError | undefined;
  for (let attempt = 1; attempt <= settings.GUDANG_FETCH_ATTEMPTS; attempt++) {
    const dog = new Watchdog(settings.GUDANG_FETCH_TIMEOUT_MS, opts.signal);
    try {
      const head = await file.head(dog.controller.signal);
      dog.stop();
      const dir = entryDir(settings, file.uri, head);
      await mkdir(dir, { recursive: true });
      const key = `${dir}/${opts.name}`;
      let pending = inProcess.get(key);
      if (!pending) {
        pending = withLock(dir, () => download(file, head, dir, opts, dog), opts.signal).finally(() => inProcess.delete(key));
        inProcess.set(key, pending);
      }
      const got = await pending;
      if (opts.expectSha256 && got.sha256 !== opts.expectSha256) {
        throw new InputError('SourceFormatError', `${file.uri}: changed at the source since the load was planned (sha256 ${got.sha256}, planned ${opts.expectSha256}); run the load again`, {
          uri: file.uri,
        });
      }
      return got;
    } catch (caught) {
      let err = caught;
      if (dog.timedOut && !(err instanceof TransientFetchError) && !(err instanceof InputError)) {
        err = new TransientFetchError(`${file.uri}: timed out: no response for ${settings.GUDANG_FETCH_TIMEOUT_MS} ms`, false);
      }
      if (!(err instanceof TransientFetchError)) throw err;
      last = err;
      opts.heartbeat?.({ phase: 'fetching', uri: file.uri, retry: attempt, error: err.message });
    } finally {
      dog.stop();
    }
    if (attempt < settings.GUDANG_FETCH_ATTEMPTS) await sleep(settings.GUDANG_FETCH_BACKOFF_MS * 2 ** (attempt - 1));
  }
  const message = `${last!.message} (after ${settings.GUDANG_FETCH_ATTEMPTS} tries; source ${file.source})`;
  if (last!.finalWhenExhausted) throw new InputError('SourceFetchFailed', message, { uri: file.uri, source: file.source });
  throw new Error(message);
}
