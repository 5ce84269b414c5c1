import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../../src/errors';
import { ensurePlannedCopy, locateSourceFile, normalizeSourceDir } from '../../src/sources/remote';
import { remoteSettings } from '../../src/sources/remote/settings';
import type { RemoteSettings } from '../../src/sources/remote/settings';
import { startDriveStandIn, startFileServer } from '../helpers/remote-servers';

// Issue 10: remote source files are streamed into a bounded local cache, resumed, verified, and every failure is
// reported as the issue lists. Real HTTP servers on loopback; Google Drive through the local stand-in (the only one).

const DATA = path.resolve(import.meta.dirname, '../../dataset');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let work: string;
let server: Awaited<ReturnType<typeof startFileServer>>;
const TOKEN = 'tok-9f2c1d7e5b3a';

function settings(extra: Record<string, string> = {}): RemoteSettings {
  return remoteSettings({ GUDANG_CACHE_DIR: path.join(work, 'cache'), GUDANG_FETCH_ATTEMPTS: '3', GUDANG_FETCH_BACKOFF_MS: '50', GUDANG_FETCH_TIMEOUT_MS: '400', ...extra });
}

async function rejectsWith(p: Promise<unknown>, type: string | undefined, pattern: RegExp): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(p, (err: Error) => {
    caught = err;
    if (type) assert.equal(err instanceof InputError ? err.type : `(not an input error: ${err.message})`, type);
    else assert.ok(!(err instanceof InputError), `expected a retryable error, got ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
  return caught!;
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'gudang-remote-'));
  server = await startFileServer(DATA, { token: TOKEN, stallMs: 1500 });
});

after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

void describe('HTTP(S) sources', () => {
  const base = () => `${server.url}/data/`;
  const withToken = () => settings({ GUDANG_HTTP_TOKEN: TOKEN });

  void test('a file is streamed into the cache and verified; a second locate uses the cached copy', async () => {
    const got = await locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: withToken() });
    assert.equal(got.remote, true);
    assert.equal(got.uri, `${server.url}/data/orders.csv`);
    assert.ok(got.etag);
    assert.equal(sha(await readFile(got.path)), sha(await readFile(path.join(DATA, 'orders.csv'))));
    const gets = server.seen.filter((r) => r.method === 'GET').length;
    const again = await locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: withToken() });
    assert.equal(again.path, got.path);
    assert.equal(server.seen.filter((r) => r.method === 'GET').length, gets, 'no second download');
  });

  void test('404 is final and names the URI and the source', async () => {
    await rejectsWith(locateSourceFile(base(), 'nope.csv', { format: 'csv', settings: withToken() }), 'SourceFileMissing', /nope\.csv not found \(HTTP 404.*in source http:\/\/127\.0\.0\.1:\d+\/data\//);
  });

  void test('401 is final and says which credential was used, never its value', async () => {
    const wrong = settings({ GUDANG_HTTP_TOKEN: 'wrong-secret-value' });
    const err = await rejectsWith(locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: wrong }), 'SourceAccessDenied', /HTTP 401.*the bearer token from GUDANG_HTTP_TOKEN/);
    assert.ok(!err.message.includes('wrong-secret-value'));
    await rejectsWith(locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: settings() }), 'SourceAccessDenied', /no credentials \(GUDANG_HTTP_TOKEN is not set\)/);
  });

  void test('5xx and timeouts are retried with back-off', async () => {
    server.faults['products.json'] = ['503', 'stall'];
    const before = server.seen.length;
    const got = await locateSourceFile(base(), 'products.json', { format: 'json', settings: withToken() });
    assert.equal(sha(await readFile(got.path)), sha(await readFile(path.join(DATA, 'products.json'))));
    assert.equal(server.seen.slice(before).filter((r) => r.method === 'GET').length, 3);
    // when every try fails it stays retryable (the activity's retry policy takes over)
    server.faults['provinces.xlsx'] = ['503', '503', '503'];
    await rejectsWith(locateSourceFile(base(), 'provinces.xlsx', { format: 'excel', settings: withToken() }), undefined, /HTTP 503.*after 3 tries/);
    server.faults['provinces.xlsx'] = ['stall', 'stall', 'stall'];
    await rejectsWith(locateSourceFile(base(), 'provinces.xlsx', { format: 'excel', settings: withToken() }), undefined, /timed out.*after 3 tries/);
    server.faults['provinces.xlsx'] = [];
  });

  void test('a body shorter than its Content-Length is resumed with a Range request', async () => {
    server.faults['order_details.csv'] = ['short'];
    const before = server.seen.length;
    const got = await locateSourceFile(base(), 'order_details.csv', { format: 'csv', settings: withToken() });
    assert.equal(sha(await readFile(got.path)), sha(await readFile(path.join(DATA, 'order_details.csv'))));
    const gets = server.seen.slice(before).filter((r) => r.method === 'GET');
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0, 'resumed after the bytes already received');
    assert.ok(gets[1]!.ifRange, 'the resume is conditional on the same ETag');
  });

  void test('short bodies and checksum mismatches are retried, then fail naming the file', async () => {
    server.faults['cities.xlsx'] = ['bad-md5', 'bad-md5', 'bad-md5'];
    await rejectsWith(locateSourceFile(base(), 'cities.xlsx', { format: 'excel', settings: withToken() }), 'SourceFetchFailed', /cities\.xlsx: checksum mismatch .*after 3 tries/);
    server.faults['customers.parquet'] = ['short', 'short', 'short'];
    // each try keeps what arrived and asks for the rest; a server that always cuts off still fails in the end
    await rejectsWith(locateSourceFile(base(), 'customers.parquet', { format: 'parquet', settings: withToken() }), 'SourceFetchFailed', /customers\.parquet: .*(broke off|shorter).*after 3 tries/);
  });

  void test('an HTML page where a workbook was expected names what was received', async () => {
    server.faults['cities.xlsx'] = ['html'];
    await rejectsWith(
      locateSourceFile(base(), 'cities.xlsx', { format: 'excel', settings: withToken() }),
      'SourceFormatError',
      /cities\.xlsx: received an HTML page \(Content-Type text\/html; charset=utf-8\) titled "Sign in - Files" where an Excel workbook \(\.xlsx\) was expected/,
    );
  });

  void test('credentials in a source URI are refused before any run starts', () => {
    assert.throws(() => normalizeSourceDir('https://bob:s3cret@files.example/x/'), /credentials in the URI are refused/);
    assert.throws(() => normalizeSourceDir('https://files.example/x/?X-Amz-Signature=abc'), /looks like a credential/);
    assert.equal(normalizeSourceDir('s3://bucket/prefix'), 's3://bucket/prefix/');
  });

  void test('the cache is bounded: least recently used copies go first', async () => {
    const small = settings({ GUDANG_HTTP_TOKEN: TOKEN, GUDANG_CACHE_DIR: path.join(work, 'small-cache'), GUDANG_CACHE_MAX_BYTES: String(200_000) });
    const a = await locateSourceFile(base(), 'order_details.csv', { format: 'csv', settings: small }); // ~170 KB
    const b = await locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: small }); // ~90 KB: a must go
    await assert.rejects(readFile(a.path), /ENOENT/);
    assert.ok((await readFile(b.path)).length > 0);
    assert.equal((await readdir(path.join(work, 'small-cache'))).length, 1);
  });

  void test('a worker that did not plan the load fetches the file again and checks the planned sha256', async () => {
    const s = withToken();
    const got = await locateSourceFile(base(), 'orders.csv', { format: 'csv', settings: s });
    const planned = { sourceDir: base(), file: 'orders.csv', format: 'csv', path: got.path, sizeBytes: (await readFile(got.path)).length, mtimeMs: Math.floor(Date.now() / 1000) * 1000, sha256: sha(await readFile(got.path)) };
    await rm(path.dirname(got.path), { recursive: true });
    await ensurePlannedCopy(planned, { settings: s });
    assert.equal(sha(await readFile(got.path)), planned.sha256);
    await rm(path.dirname(got.path), { recursive: true });
    await rejectsWith(ensurePlannedCopy({ ...planned, sha256: '0'.repeat(64) }, { settings: s }), 'SourceFormatError', /changed at the source since the load was planned/);
  });
});

void describe('Google Drive sources (through the local stand-in server)', () => {
  let drive: Awaited<ReturnType<typeof startDriveStandIn>>;
  let keyFile: string;
  const email = 'gudang-loader@example-project.iam.gserviceaccount.com';
  let privateKey: string;

  before(async () => {
    const { publicKey, privateKey: pk } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    privateKey = pk;
    const cities = await readFile(path.join(DATA, 'cities.xlsx'));
    const orders = await readFile(path.join(DATA, 'orders.csv'));
    drive = await startDriveStandIn(
      {
        FOLDER123: [
          { id: 'f-orders', name: 'orders.csv', mimeType: 'text/csv', body: orders, version: 7 },
          { id: 's-cities', name: 'cities', mimeType: 'application/vnd.google-apps.spreadsheet', body: cities, version: 3 },
        ],
      },
      publicKey,
      email,
    );
    keyFile = path.join(work, 'sa.json');
    await writeFile(keyFile, JSON.stringify({ type: 'service_account', client_email: email, private_key: privateKey, token_uri: `${drive.url}/token` }));
  });
  after(async () => drive?.close());

  const driveSettings = () => settings({ GUDANG_GDRIVE_KEY_FILE: keyFile, GUDANG_GDRIVE_API_URL: drive.url });

  void test('a file is downloaded with files.get alt=media; a Google Sheet is exported as xlsx', async () => {
    const csv = await locateSourceFile('gdrive://FOLDER123', 'orders.csv', { format: 'csv', settings: driveSettings() });
    assert.equal(csv.uri, 'gdrive://FOLDER123/orders.csv');
    assert.equal(csv.etag, 'revision:rev7');
    assert.equal(sha(await readFile(csv.path)), sha(await readFile(path.join(DATA, 'orders.csv'))));
    const xlsx = await locateSourceFile('gdrive://FOLDER123', 'cities.xlsx', { format: 'excel', settings: driveSettings() });
    assert.equal(xlsx.etag, 'sheet-version:3');
    assert.equal(sha(await readFile(xlsx.path)), sha(await readFile(path.join(DATA, 'cities.xlsx'))));
    assert.ok(drive.seen.some((r) => r.url.startsWith('/drive/v3/files/s-cities/export?mimeType=application%2Fvnd.openxmlformats')));
    assert.ok(drive.seen.some((r) => r.url.startsWith('/drive/v3/files/f-orders?alt=media')));
  });

  void test('a missing file names the URI and the folder; a refused key names the service account, never the key', async () => {
    await rejectsWith(locateSourceFile('gdrive://FOLDER123', 'products.json', { format: 'json', settings: driveSettings() }), 'SourceFileMissing', /gdrive:\/\/FOLDER123\/products\.json not found .* in source gdrive:\/\/FOLDER123/);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const badKey = path.join(work, 'sa-bad.json');
    await writeFile(badKey, JSON.stringify({ client_email: 'intruder@example.iam.gserviceaccount.com', private_key: other.privateKey, token_uri: `${drive.url}/token` }));
    const err = await rejectsWith(
      locateSourceFile('gdrive://FOLDER123', 'orders.csv', { format: 'csv', settings: settings({ GUDANG_GDRIVE_KEY_FILE: badKey, GUDANG_GDRIVE_API_URL: drive.url }) }),
      'SourceAccessDenied',
      /service account intruder@example\.iam\.gserviceaccount\.com \(key file named by GUDANG_GDRIVE_KEY_FILE\)/,
    );
    assert.ok(!err.message.includes('PRIVATE KEY'));
  });
});
