import { createHash, createVerify, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

// Real servers on loopback for the remote-source tests: a file server (HTTP, with the failures a remote source must
// survive or report), and the one stand-in: a server answering the Google Drive v3 calls the code uses.

export type Fault = '503' | 'stall' | 'short' | 'bad-md5' | 'html' | '401' | '404';

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  ifRange?: string;
  authorization?: string;
}

export interface TestServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: http.Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/** Sends `body` (or its Range), with ETag, Content-Length, Content-MD5; honours If-Range. */
function sendFile(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, etag: string, type: string, fault?: Fault): void {
  const md5 = fault === 'bad-md5' ? createHash('md5').update('not this').digest('base64') : createHash('md5').update(body).digest('base64');
  const headers: Record<string, string> = { etag, 'content-type': type, 'accept-ranges': 'bytes' };
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  let start = 0;
  if (range && (!ifRange || ifRange === etag)) {
    start = Number(range[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  } else headers['content-md5'] = md5;
  const part = body.subarray(start);
  headers['content-length'] = String(part.length);
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (req.method === 'HEAD') return void res.end();
  if (fault === 'short') {
    // half the promised body, then the connection drops
    res.write(part.subarray(0, Math.floor(part.length / 2)), () => res.destroy());
    return;
  }
  res.end(part);
}

const TYPES: Record<string, string> = { '.csv': 'text/csv', '.json': 'application/json', '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', '.parquet': 'application/octet-stream' };

/**
 * Serves the files of `dir` under /data/. `faults[name]` is a queue of failures, one used per GET of that file
 * ('stall' answers nothing for `stallMs`). With `token`, requests without `Authorization: Bearer <token>` get 401.
 */
export async function startFileServer(dir: string, opts: { token?: string; faults?: Record<string, Fault[]>; stallMs?: number } = {}): Promise<TestServer & { faults: Record<string, Fault[]> }> {
  const seen: SeenRequest[] = [];
  const faults = opts.faults ?? {};
  const server = http.createServer((req, res) => {
    void (async () => {
      seen.push({ method: req.method!, url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, authorization: req.headers.authorization });
      const name = decodeURIComponent((req.url ?? '').replace(/^\/data\//, '').split('?')[0]!);
      if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('unauthorized');
      const fault = req.method === 'GET' ? faults[name]?.shift() : faults[name]?.[0] === '503' || faults[name]?.[0] === 'stall' ? undefined : faults[name]?.[0];
      if (fault === '503') return void res.writeHead(503).end('busy');
      if (fault === '401') return void res.writeHead(401).end();
      if (fault === '404') return void res.writeHead(404).end();
      if (fault === 'stall') {
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 2000));
        if (!res.destroyed) res.writeHead(503).end();
        return;
      }
      if (fault === 'html') {
        return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><head><title>Sign in - Files</title></head><body>Please sign in</body></html>');
      }
      let body: Buffer;
      try {
        if (name.includes('..')) throw new Error('refused');
        body = await readFile(path.join(dir, name));
      } catch {
        return void res.writeHead(404).end('not found');
      }
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      sendFile(req, res, body, etag, TYPES[path.extname(name)] ?? 'application/octet-stream', fault);
    })();
  });
  const url = await listen(server);
  return { url, seen, faults, close: closer(server) };
}

export interface DriveItem {
  id: string;
  name: string;
  mimeType: string;
  body: Buffer;
  version: number;
}

/** Verifies an RS256 JWT against `publicKeyPem`; returns its claims, or undefined when the signature is wrong. */
function verifyJwt(jwt: string, publicKeyPem: string): Record<string, unknown> | undefined {
  const [h, c, s] = jwt.split('.');
  if (!h || !c || !s) return undefined;
  const ok = createVerify('RSA-SHA256').update(`${h}.${c}`).verify(publicKeyPem, Buffer.from(s, 'base64url'));
  return ok ? (JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>) : undefined;
}

/**
 * The Google Drive stand-in: POST /token (JWT-bearer grant, signature checked with the service account's public key),
 * GET /drive/v3/files (files.list, the `'<folder>' in parents and name = '<name>'` query), GET /drive/v3/files/ID?alt=media
 * (with Range), GET /drive/v3/files/ID/export?mimeType=... (Google Sheets only).
 */
export async function startDriveStandIn(folders: Record<string, DriveItem[]>, publicKeyPem: string, clientEmail: string): Promise<TestServer & { tokens: Set<string> }> {
  const seen: SeenRequest[] = [];
  const tokens = new Set<string>();
  const items = new Map<string, DriveItem>();
  for (const list of Object.values(folders)) for (const it of list) items.set(it.id, it);
  const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  let url = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, range: req.headers.range, authorization: req.headers.authorization });
      const u = new URL(req.url!, url);
      if (req.method === 'POST' && u.pathname === '/token') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        const claims = form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' ? verifyJwt(form.get('assertion') ?? '', publicKeyPem) : undefined;
        if (!claims || claims.iss !== clientEmail || claims.aud !== `${url}/token` || !String(claims.scope).includes('drive')) {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const token = `ya29.${randomBytes(16).toString('hex')}`;
        tokens.add(token);
        return json(res, 200, { access_token: token, expires_in: 3600, token_type: 'Bearer' });
      }
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !tokens.has(bearer)) return json(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.' } });
      if (u.pathname === '/drive/v3/files') {
        const m = /^'((?:[^'\\]|\\.)*)' in parents and name = '((?:[^'\\]|\\.)*)' and trashed = false$/.exec(u.searchParams.get('q') ?? '');
        if (!m) return json(res, 400, { error: { code: 400, message: 'Invalid Value' } });
        const unescape = (v: string) => v.replace(/\\(.)/g, '$1');
        const found = (folders[unescape(m[1]!)] ?? []).filter((it) => it.name === unescape(m[2]!));
        return json(res, 200, {
          files: found.map((it) => ({
            id: it.id,
            name: it.name,
            mimeType: it.mimeType,
            version: String(it.version),
            ...(it.mimeType.startsWith('application/vnd.google-apps.')
              ? {}
              : { size: String(it.body.length), md5Checksum: createHash('md5').update(it.body).digest('hex'), headRevisionId: `rev${it.version}` }),
          })),
        });
      }
      const m = /^\/drive\/v3\/files\/([^/]+)(\/export)?$/.exec(u.pathname);
      const it = m ? items.get(decodeURIComponent(m[1]!)) : undefined;
      if (!it) return json(res, 404, { error: { code: 404, message: 'File not found.' } });
      const sheet = it.mimeType === 'application/vnd.google-apps.spreadsheet';
      if (m![2]) {
        if (!sheet) return json(res, 403, { error: { code: 403, message: 'Export only supports Docs Editors files.' } });
        return void res.writeHead(200, { 'content-type': u.searchParams.get('mimeType')! }).end(it.body);
      }
      if (u.searchParams.get('alt') !== 'media') return json(res, 400, { error: { code: 400, message: 'alt=media expected' } });
      if (sheet) return json(res, 403, { error: { code: 403, message: 'Only files with binary content can be downloaded. Use Export with Docs Editors files.' } });
      sendFile(req, res, it.body, `"v${it.version}"`, 'application/octet-stream');
    });
  });
  url = await listen(server);
  return { url, seen, tokens, close: closer(server) };
}
