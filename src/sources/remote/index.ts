import { stat, utimes } from 'node:fs/promises';
import { resolveSourceFile } from '../../ingest/paths';
import type { CachedFile } from './cache';
import { fetchToCache, releaseCached } from './cache';
import { gdriveFile } from './gdrive';
import { httpFile } from './http';
import { s3File } from './s3';
import type { RemoteSettings } from './settings';
import { remoteSettings } from './settings';
import type { RemoteFile } from './types';
import { fileUri, sourceKind } from './uri';

// The locator: turns (source folder, file name) into a verified local file. A local folder is resolved as always
// (GUDANG_SOURCE_ROOT confinement); a remote one is streamed into the bounded cache first. Everything after it, the
// chunked engine, validation, quarantine, the ledger, runs unchanged on the local copy.

export { isRemoteSource, normalizeSourceDir, sourceKind } from './uri';

export interface LocatedFile {
  /** The local file the engine reads. */
  path: string;
  /** Where it came from: the remote file's URI, or the local path. */
  uri: string;
  /** ETag or revision of the remote file. */
  etag?: string;
  remote: boolean;
}

export interface LocateOptions {
  sourceRoot?: string;
  format: string;
  heartbeat?: (details: Record<string, unknown>) => void;
  signal?: AbortSignal;
  settings?: RemoteSettings;
}

export function remoteFile(sourceDir: string, file: string, format: string, settings: RemoteSettings): RemoteFile {
  const uri = fileUri(sourceDir, file);
  switch (sourceKind(sourceDir)) {
    case 'http':
      return httpFile(sourceDir, uri, settings);
    case 's3':
      return s3File(sourceDir, uri, settings);
    case 'gdrive':
      return gdriveFile(sourceDir, uri, file, format, settings);
    default:
      throw new Error(`${sourceDir} is not a remote source`);
  }
}

export async function locateSourceFile(sourceDir: string, file: string, opts: LocateOptions): Promise<LocatedFile> {
  if (sourceKind(sourceDir) === 'local') {
    const path = await resolveSourceFile(sourceDir, file, opts.sourceRoot);
    return { path, uri: path, remote: false };
  }
  const settings = opts.settings ?? remoteSettings();
  const got: CachedFile = await fetchToCache(remoteFile(sourceDir, file, opts.format, settings), {
    settings,
    format: opts.format,
    name: file,
    heartbeat: opts.heartbeat,
    signal: opts.signal,
  });
  return { path: got.path, uri: got.uri, etag: got.etag, remote: true };
}

/** What a chunk activity needs to know of a planned remote load to (re)fetch its file. */
export interface PlannedRemoteFile {
  sourceDir: string;
  file: string;
  format: string;
  path: string;
  sizeBytes: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * Makes sure the planned copy of a remote file is on this worker, at the planned path, with the planned sha256 (a
 * chunk can run on a worker that did not plan the load, or after the cache dropped the copy). Sets the planned
 * modification time, so the engine's "file unchanged" check holds.
 */
export async function ensurePlannedCopy(planned: PlannedRemoteFile, opts: Omit<LocateOptions, 'format' | 'sourceRoot'> = {}): Promise<void> {
  const st = await stat(planned.path).catch(() => undefined);
  if (st && st.size === planned.sizeBytes && st.mtimeMs === planned.mtimeMs) return;
  const settings = opts.settings ?? remoteSettings();
  const got = await fetchToCache(remoteFile(planned.sourceDir, planned.file, planned.format, settings), {
    settings,
    format: planned.format,
    name: planned.file,
    expectSha256: planned.sha256,
    heartbeat: opts.heartbeat,
    signal: opts.signal,
  });
  if (got.path !== planned.path) {
    throw new Error(
      `${got.uri}: fetched to ${got.path} but the load was planned with ${planned.path}: give every worker the same GUDANG_CACHE_DIR`,
    );
  }
  const when = planned.mtimeMs / 1000;
  await utimes(got.path, when, when);
}

/** Drops this worker's cached copy of a published or discarded load. */
export async function releasePlannedCopy(cachedPath: string): Promise<void> {
  await releaseCached(remoteSettings(), cachedPath);
}
