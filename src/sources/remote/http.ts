import { InputError } from '../../errors';
import { accessDenied, notFound, serverError } from './errors';
import type { RemoteSettings } from './settings';
import type { RemoteBody, RemoteFile, RemoteHead } from './types';
import { TransientFetchError } from './types';

// https://host/path/ sources: each file is fetched by name under the base URI. A bearer token from
// GUDANG_HTTP_TOKEN is sent when set. Resumes with Range + If-Range (the ETag), verifies Content-MD5 when sent.

type Named = Pick<RemoteFile, 'uri' | 'source' | 'credential'>;

/** The typed error for a non-2xx HTTP status (shared by the Drive kind, which speaks HTTP too). */
export function statusError(file: Named, status: number, statusText: string): Error {
  const detail = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 404 || status === 410) return notFound(file, detail);
  if (status === 401 || status === 403) return accessDenied(file, detail);
  if (status >= 500 || status === 429 || status === 408) return serverError(file, detail);
  return new InputError('SourceFetchFailed', `${file.uri}: unexpected answer ${detail}; source ${file.source}`, { uri: file.uri, source: file.source });
}

/** fetch, with network failures as retryable errors naming the URI (timeouts are the caller's watchdog). */
export async function request(file: Named, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'follow' });
  } catch (err) {
    if (init.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new TransientFetchError(`${file.uri}: request failed (${cause?.code ?? cause?.message ?? (err as Error).message})`, false);
  }
}

function md5FromHeader(value: string | null): string | undefined {
  if (!value) return undefined;
  const hex = Buffer.from(value, 'base64').toString('hex');
  return hex.length === 32 ? hex : undefined;
}

const numberOr = (v: string | null): number | undefined => (v !== null && /^\d+$/.test(v) ? Number(v) : undefined);

/** The total size from `Content-Range: bytes a-b/total`. */
const rangeTotal = (v: string | null): number | undefined => numberOr(/\/(\d+)$/.exec(v ?? '')?.[1] ?? null);

export function httpFile(source: string, uri: string, settings: RemoteSettings): RemoteFile {
  const credential = settings.GUDANG_HTTP_TOKEN ? 'the bearer token from GUDANG_HTTP_TOKEN' : 'no credentials (GUDANG_HTTP_TOKEN is not set)';
  const auth: Record<string, string> = settings.GUDANG_HTTP_TOKEN ? { authorization: `Bearer ${settings.GUDANG_HTTP_TOKEN}` } : {};
  const file: RemoteFile = {
    uri,
    source,
    credential,
    resumable: true,
    async head(signal): Promise<RemoteHead> {
      const res = await request(file, uri, { method: 'HEAD', headers: auth, signal });
      if (res.status === 405 || res.status === 501) return {}; // no HEAD here: learn it from the GET
      if (!res.ok) throw statusError(file, res.status, res.statusText);
      return {
        etag: res.headers.get('etag') ?? undefined,
        size: numberOr(res.headers.get('content-length')),
        md5: md5FromHeader(res.headers.get('content-md5')),
        contentType: res.headers.get('content-type') ?? undefined,
      };
    },
    async open(offset, etag, signal): Promise<RemoteBody> {
      const headers: Record<string, string> = { ...auth };
      if (offset > 0) {
        headers.range = `bytes=${offset}-`;
        if (etag && !etag.startsWith('W/')) headers['if-range'] = etag;
      }
      let res = await request(file, uri, { headers, signal });
      if (res.status === 416) {
        await res.body?.cancel();
        res = await request(file, uri, { headers: auth, signal });
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw statusError(file, res.status, res.statusText);
      }
      const partial = res.status === 206;
      const length = numberOr(res.headers.get('content-length'));
      return {
        offset: partial ? offset : 0,
        length,
        size: partial ? rangeTotal(res.headers.get('content-range')) : length,
        etag: res.headers.get('etag') ?? undefined,
        // Content-MD5 of a 206 covers only the part sent
        md5: partial ? undefined : md5FromHeader(res.headers.get('content-md5')),
        contentType: res.headers.get('content-type') ?? undefined,
        body: (res.body ?? []) as AsyncIterable<Uint8Array>,
      };
    },
  };
  return file;
}
