import path from 'node:path';
import { InputError } from '../../errors';

// A source folder is a local directory or a URI: https://host/path/, s3://bucket/prefix/, gdrive://FOLDER_ID.
// Only the location travels through workflow inputs; a URI carrying credentials (user:password@, a signed query)
// is refused before any run starts.

export type SourceKind = 'local' | 'http' | 's3' | 'gdrive';

const REMOTE = /^(https?|s3|gdrive):\/\//i;

export function sourceKind(sourceDir: string): SourceKind {
  const m = REMOTE.exec(sourceDir);
  if (!m) return 'local';
  const scheme = m[1]!.toLowerCase();
  return scheme === 's3' ? 's3' : scheme === 'gdrive' ? 'gdrive' : 'http';
}

export const isRemoteSource = (sourceDir: string): boolean => sourceKind(sourceDir) !== 'local';

const SECRET_PARAMS = /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|key|api_key|apikey|password)$/i;

/** Refuses a URI that carries credentials; returns it unchanged otherwise. */
export function checkNoCredentials(uri: string): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new InputError('ConfigError', `source ${JSON.stringify(uri)} is not a valid URI`);
  }
  const safe = `${u.protocol}//${u.host}${u.pathname}`;
  if (u.username || u.password) {
    throw new InputError('ConfigError', `source ${safe}: credentials in the URI are refused (they would be stored in the run's history); use the environment variables of docs/remote-sources.md`);
  }
  for (const key of u.searchParams.keys()) {
    if (SECRET_PARAMS.test(key)) {
      throw new InputError('ConfigError', `source ${safe}: the query parameter "${key}" looks like a credential and is refused (it would be stored in the run's history)`);
    }
  }
  return uri;
}

/** The source folder as a run stores it: an absolute local path, or the URI (with a trailing slash for folders). */
export function normalizeSourceDir(sourceDir: string): string {
  const kind = sourceKind(sourceDir);
  if (kind === 'local') return path.resolve(sourceDir);
  checkNoCredentials(sourceDir);
  if (kind === 'gdrive') return sourceDir.replace(/\/+$/, '');
  return sourceDir.endsWith('/') ? sourceDir : `${sourceDir}/`;
}

/** The URI of one file under a remote source folder (file names are plain registry names). */
export function fileUri(sourceDir: string, file: string): string {
  if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
    throw new InputError('SourcePathRefused', `${file}: refused: a source file name must be a plain relative name`, { file });
  }
  const kind = sourceKind(sourceDir);
  if (kind === 'gdrive') return `${sourceDir.replace(/\/+$/, '')}/${file}`;
  const base = sourceDir.endsWith('/') ? sourceDir : `${sourceDir}/`;
  return `${base}${file.split('/').map(encodeURIComponent).join('/')}`;
}

export interface S3Location {
  bucket: string;
  key: string;
}

/** s3://bucket/a/b -> { bucket, key: 'a/b' } */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(uri);
  if (!m) throw new InputError('ConfigError', `${JSON.stringify(uri)} is not an s3://bucket/key URI`);
  return { bucket: m[1]!, key: decodeURIComponent(m[2]!) };
}
