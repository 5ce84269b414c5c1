import { createSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InputError } from '../../errors';
import { notFound } from './errors';
import { request, statusError } from './http';
import type { RemoteSettings } from './settings';
import type { RemoteBody, RemoteFile, RemoteHead } from './types';

// gdrive://FOLDER_ID sources: the Drive API v3 with a service-account key file named by GUDANG_GDRIVE_KEY_FILE.
// Calls used: files.list (find a file by name in the folder), files.get?alt=media (download, with Range to resume),
// files.export (a Google Sheet as .xlsx). The OAuth token comes from a JWT signed here with node:crypto.

const SCOPE = 'https://www.googleapis.com/auth/drive.readonly';
const SHEET = 'application/vnd.google-apps.spreadsheet';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri?: string;
}

interface DriveFile {
  id: string;
  name: string;
  mimeType: string;
  size?: string;
  md5Checksum?: string;
  headRevisionId?: string;
  version?: string;
  modifiedTime?: string;
}

const tokens = new Map<string, { token: string; expires: number }>();

async function readKey(settings: RemoteSettings): Promise<ServiceAccountKey> {
  const file = settings.GUDANG_GDRIVE_KEY_FILE;
  if (!file) throw new InputError('ConfigError', 'Google Drive source: GUDANG_GDRIVE_KEY_FILE (a service-account key file) is not set on the worker');
  let key: Partial<ServiceAccountKey>;
  try {
    key = JSON.parse(await readFile(file, 'utf8')) as Partial<ServiceAccountKey>;
  } catch (err) {
    throw new InputError('ConfigError', `Google Drive source: the key file named by GUDANG_GDRIVE_KEY_FILE cannot be read as JSON (${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'})`);
  }
  if (!key.client_email || !key.private_key) throw new InputError('ConfigError', 'Google Drive source: the key file named by GUDANG_GDRIVE_KEY_FILE has no client_email or private_key');
  return key as ServiceAccountKey;
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** A signed JWT assertion for the OAuth 2.0 JWT-bearer grant (RFC 7523). */
export function signJwt(key: ServiceAccountKey, audience: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iss: key.client_email, scope: SCOPE, aud: audience, iat: nowSeconds, exp: nowSeconds + 3600 }));
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key.private_key);
  return `${header}.${claims}.${b64url(signature)}`;
}

export function gdriveFile(source: string, uri: string, fileName: string, format: string, settings: RemoteSettings): RemoteFile {
  const folder = source.replace(/^gdrive:\/\//i, '').replace(/\/+$/, '');
  const api = settings.GUDANG_GDRIVE_API_URL.replace(/\/+$/, '');
  let credential = 'the service account key file named by GUDANG_GDRIVE_KEY_FILE';
  let found: DriveFile | undefined;

  async function accessToken(signal: AbortSignal): Promise<string> {
    const key = await readKey(settings);
    credential = `the service account ${key.client_email} (key file named by GUDANG_GDRIVE_KEY_FILE)`;
    file.credential = credential;
    const cached = tokens.get(key.client_email);
    if (cached && cached.expires > Date.now() + 60_000) return cached.token;
    const tokenUrl = settings.GUDANG_GDRIVE_TOKEN_URL ?? key.token_uri ?? 'https://oauth2.googleapis.com/token';
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signJwt(key, tokenUrl) });
    const res = await request(file, tokenUrl, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, signal });
    if (!res.ok) {
      await res.body?.cancel();
      // a refused token is refused access to the file, whatever the token endpoint's status
      throw statusError(file, res.status === 400 ? 401 : res.status, `from the token endpoint ${tokenUrl}`);
    }
    const json = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!json.access_token) throw new InputError('ConfigError', `Google Drive source: the token endpoint ${tokenUrl} answered without an access_token`);
    tokens.set(key.client_email, { token: json.access_token, expires: Date.now() + (json.expires_in ?? 3600) * 1000 });
    return json.access_token;
  }

  async function get(url: string, signal: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
    const token = await accessToken(signal);
    const res = await request(file, url, { headers: { authorization: `Bearer ${token}`, ...extra }, signal });
    if (!res.ok && res.status !== 206) {
      await res.body?.cancel();
      throw statusError(file, res.status, res.statusText);
    }
    return res;
  }

  async function lookup(signal: AbortSignal): Promise<DriveFile> {
    const names = [fileName];
    if (format === 'excel') names.push(fileName.replace(/\.xlsx?$/i, '')); // a Google Sheet is often named without the extension
    for (const name of names) {
      const q = `'${folder.replace(/['\\]/g, '\\$&')}' in parents and name = '${name.replace(/['\\]/g, '\\$&')}' and trashed = false`;
      const params = new URLSearchParams({
        q,
        fields: 'files(id,name,mimeType,size,md5Checksum,headRevisionId,version,modifiedTime)',
        supportsAllDrives: 'true',
        includeItemsFromAllDrives: 'true',
      });
      const res = await get(`${api}/drive/v3/files?${params}`, signal);
      const { files = [] } = (await res.json()) as { files?: DriveFile[] };
      const usable = name === fileName ? files : files.filter((f) => f.mimeType === SHEET);
      if (usable.length > 1) {
        throw new InputError('SourceFormatError', `${uri}: ${usable.length} files of that name in the Drive folder ${source}; keep one`, { uri, source });
      }
      if (usable[0]) return usable[0];
    }
    throw notFound(file, 'no file of that name in the Drive folder');
  }

  const file: RemoteFile = {
    uri,
    source,
    credential,
    resumable: true,
    async head(signal): Promise<RemoteHead> {
      found = await lookup(signal);
      const sheet = found.mimeType === SHEET;
      file.resumable = !sheet;
      return {
        etag: sheet ? `sheet-version:${found.version ?? found.modifiedTime}` : `revision:${found.headRevisionId ?? found.version ?? found.modifiedTime}`,
        size: !sheet && found.size !== undefined ? Number(found.size) : undefined,
        md5: sheet ? undefined : found.md5Checksum,
      };
    },
    async open(offset, _etag, signal): Promise<RemoteBody> {
      const f = found ?? (await lookup(signal));
      const sheet = f.mimeType === SHEET;
      const url = sheet
        ? `${api}/drive/v3/files/${encodeURIComponent(f.id)}/export?mimeType=${encodeURIComponent(XLSX)}`
        : `${api}/drive/v3/files/${encodeURIComponent(f.id)}?alt=media&supportsAllDrives=true`;
      const res = await get(url, signal, !sheet && offset > 0 ? { range: `bytes=${offset}-` } : {});
      const partial = res.status === 206;
      const length = res.headers.get('content-length');
      return {
        offset: partial ? offset : 0,
        length: length !== null ? Number(length) : undefined,
        size: sheet ? undefined : Number(f.size),
        md5: sheet || partial ? undefined : f.md5Checksum,
        contentType: res.headers.get('content-type') ?? undefined,
        body: (res.body ?? []) as AsyncIterable<Uint8Array>,
      };
    },
  };
  return file;
}
