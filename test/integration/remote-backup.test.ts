import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { startPipeline } from '../../src/client';
import type { BackupResult, PipelineSummary } from '../../src/contracts';
import { listBackups, restoreBackup, verifyBackup } from '../../src/backup/restore';
import { openStore } from '../../src/backup/store';
import { backupTables, rowChecksum } from '../../src/backup/tables';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { startMinio } from '../../src/dev/minio';
import type { RunningMinio } from '../../src/dev/minio';
import { s3Client } from '../../src/sources/remote/s3';
import { remoteSettings } from '../../src/sources/remote/settings';
import { writeManifest } from '../../src/backup/backup';
import type { BackupStore } from '../../src/backup/store';
import { scheduleInput, triggerSchedule } from '../../src/schedules';
import { cliEnv, runCli } from '../helpers/cli';
import { createTestDatabase } from '../helpers/db';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// Issue 10 end to end: a pipeline run whose source folder is an S3 bucket (a real MinIO server), with no credential
// anywhere in the workflow history or the ops tables; then backups of its warehouse (local folder and S3) run as
// their own workflow, verified, restored into an empty database with identical tables, refused when a file changed.

const DATA = path.resolve(import.meta.dirname, '../../dataset');
const BUCKET = 'deliveries';

let h: PipelineHarness;
let minio: RunningMinio;
let worker: Worker;
let running: Promise<void>;
let work: string;
const saved: Record<string, string | undefined> = {};

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'gudang-rb-'));
  [h, minio] = await Promise.all([startHarness(), startMinio()]);
  // the worker runs in this process: its S3 settings come from the environment, as in production
  for (const [k, v] of Object.entries({ ...minio.env, GUDANG_CACHE_DIR: path.join(work, 'cache') })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const s3 = await s3Client(remoteSettings());
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const entry of await readdir(DATA, { withFileTypes: true })) {
    const f = entry.name;
    if (!entry.isFile() || f.endsWith('.md') || f.endsWith('.ts')) continue;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `2022/${f}`, Body: await readFile(path.join(DATA, f)) }));
  }
  worker = await h.newWorker();
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await h?.close();
  await minio?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (work) await rm(work, { recursive: true, force: true });
});

/** The history as text with every payload decoded: as JSON its payload bytes are base64 strings, where a secret would hide. */
function decodedHistory(events: unknown): string {
  return JSON.stringify(events, (k, v: unknown) => (k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v));
}

async function everyOpsRow(): Promise<string> {
  const { rows } = await h.db.pool.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'ops'`);
  let all = '';
  for (const r of rows) all += JSON.stringify((await h.db.pool.query(`SELECT * FROM ops.${r.t}`)).rows);
  return all;
}

async function tableFingerprints(pool: typeof h.db.pool): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of backupTables(djangoApparel)) {
    const { rows, checksum } = await rowChecksum(pool, t);
    out[t.table] = `${rows}:${checksum}`;
  }
  return out;
}

void describe('a run from an S3 source, then backups', () => {
  let summary: PipelineSummary;

  void test('the pipeline loads every source from s3://, records URI, size, ETag and sha256, and stores no credential', async () => {
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: `s3://${BUCKET}/2022`, runKey: 's3' });
    summary = (await run.handle.result()) as PipelineSummary;
    assert.equal(summary.loads.length, djangoApparel.sources.length);
    const { rows } = await h.db.pool.query<{ source: string; source_uri: string; size_bytes: number; etag: string; sha256: string }>(
      `SELECT source, source_uri, size_bytes, etag, sha256 FROM ops.loads WHERE run_id = $1 ORDER BY source`,
      [summary.runId],
    );
    assert.equal(rows.length, djangoApparel.sources.length);
    for (const r of rows) {
      const spec = djangoApparel.sources.find((s) => s.name === r.source)!;
      assert.equal(r.source_uri, `s3://${BUCKET}/2022/${spec.file}`);
      assert.equal(r.size_bytes, (await readFile(path.join(DATA, spec.file))).length);
      assert.match(r.etag, /^"[0-9a-f]{32}"$/);
      assert.match(r.sha256, /^[0-9a-f]{64}$/);
    }
    const history = decodedHistory((await h.client.workflow.getHandle(summary.workflowId, summary.runId).fetchHistory()).events);
    const ops = await everyOpsRow();
    for (const secret of [minio.secretKey, minio.accessKey]) {
      assert.ok(!history.includes(secret), 'no S3 credential in the workflow history');
      assert.ok(!ops.includes(secret), 'no S3 credential in the ops tables');
    }
    assert.ok(history.includes(`s3://${BUCKET}/2022/`), 'the decoded history does name the source folder');
    // the published loads' cached copies are cleaned up
    assert.deepEqual(await readdir(path.join(work, 'cache')), []);
  });

  void test('a backup to a folder and to S3 runs as a workflow; verify, restore into an empty database, retention', async () => {
    const before = await tableFingerprints(h.db.pool);
    const dir = path.join(work, 'backups');
    const results: BackupResult[] = [];
    for (const to of [dir, dir, `s3://${BUCKET}/backups/`, dir]) {
      results.push(await h.client.workflow.execute('backupWorkflow', { taskQueue: h.config.TEMPORAL_TASK_QUEUE, workflowId: `backup-test-${results.length}`, args: [{ dataset: 'django-apparel', to, keep: 2 }] }));
    }
    const local = results[3]!;
    assert.equal(local.tables, backupTables(djangoApparel).length);
    assert.equal(local.rows, Object.values(before).reduce((sum, v) => sum + Number(v.split(':')[0]), 0));
    assert.deepEqual(local.periods.length > 0, true);
    assert.equal(local.removed.length, 1, 'the third local backup removes the oldest (--keep 2)');
    assert.equal((await listBackups(openStore(dir), 'django-apparel')).length, 2);

    for (const loc of [dir, `s3://${BUCKET}/backups/`]) {
      const store = openStore(loc);
      const newest = (await listBackups(store))[0]!;
      const { files } = await verifyBackup(store, newest.id);
      assert.ok(files.every((f) => f.ok));
      const target = await createTestDatabase('gudang_restore');
      try {
        await restoreBackup(store, newest.id, target.pool);
        assert.deepEqual(await tableFingerprints(target.pool), before, `${loc}: every table restored with the same rows`);
      } finally {
        await target.drop();
      }
    }

    // a file changed after the backup: verify names it, restore refuses it and leaves the database empty
    const id = (await listBackups(openStore(dir)))[1]!.id;
    const victim = path.join(dir, id, 'warehouse.fct_transactions.csv.gz');
    const bytes = await readFile(victim);
    bytes[bytes.length - 10] ^= 0xff;
    await writeFile(victim, bytes);
    const { files } = await verifyBackup(openStore(dir), id);
    assert.deepEqual(files.filter((f) => !f.ok).map((f) => path.basename(f.file)), ['warehouse.fct_transactions.csv.gz']);
    const target = await createTestDatabase('gudang_restore');
    try {
      await assert.rejects(restoreBackup(openStore(dir), id, target.pool), /refusing to restore: .*warehouse\.fct_transactions\.csv\.gz does not match the manifest/);
      const { rows } = await target.pool.query(`SELECT to_regclass('warehouse.fct_transactions') AS t`);
      assert.equal(rows[0].t, null);
    } finally {
      await target.drop();
    }
  });

  void test('a schedule whose runs end with a backup to S3 keeps the newest N, and stores no credential', async () => {
    const to = `s3://${BUCKET}/scheduled/`;
    const env = cliEnv(h.config);
    // refused before anything is stored: a location that is not a folder or s3://, and a URI carrying a credential
    const https = await runCli(['schedule', 'create', 'bk-refused', '--source', DATA, '--backup-to', 'https://example.org/b/'], env);
    assert.equal(https.code, 2, https.output);
    assert.match(https.stderr, /backups go to a folder or an s3:\/\/bucket\/prefix\/ URI/);
    const inUri = await runCli(['schedule', 'create', 'bk-refused', '--source', DATA, '--backup-to', `s3://${minio.accessKey}:${minio.secretKey}@${BUCKET}/x/`], env);
    assert.equal(inUri.code, 2, inUri.output);
    assert.match(inUri.stderr, /credentials in the URI are refused/);
    assert.ok(!(inUri.stdout + inUri.stderr).includes(minio.secretKey), 'the refusal does not echo the secret');
    const keepAlone = await runCli(['schedule', 'create', 'bk-refused', '--source', DATA, '--backup-keep', '2'], env);
    assert.equal(keepAlone.code, 2, keepAlone.output);

    // the CLI runs with the S3 credentials in its environment, as an operator's shell would
    const created = await runCli(['schedule', 'create', 'bk-nightly', '--source', DATA, '--backup-to', to, '--backup-keep', '1'], env);
    assert.equal(created.code, 0, created.output);
    assert.match(created.stdout, /then backs up to\s+s3:\/\/deliveries\/scheduled\/, keeping the newest 1/);
    const description = await h.client.schedule.getHandle('bk-nightly').describe();
    assert.deepEqual(scheduleInput(description).backup, { to, keep: 1 });
    const stored = JSON.stringify({ action: description.action, memo: description.memo, state: description.state });
    for (const secret of [minio.secretKey, minio.accessKey]) assert.ok(!stored.includes(secret), 'no S3 credential in the schedule');

    const runs: PipelineSummary[] = [];
    for (let i = 0; i < 2; i++) {
      const outcome = await triggerSchedule(h.client, 'bk-nightly');
      assert.ok(outcome.outcome === 'started', JSON.stringify(outcome));
      const summary = (await h.client.workflow.getHandle(outcome.workflowId, outcome.runId).result()) as PipelineSummary;
      runs.push(summary);
      assert.ok(summary.backup, 'the scheduled run ends with a backup');
      assert.equal(summary.backup.location, `${to}${summary.backup.id}`);
      assert.ok(summary.backup.periods.includes(summary.period!), `the backup lists the month just loaded (${summary.period})`);
      const { rows } = await h.db.pool.query(`SELECT kind, status, rows_out::int AS rows FROM ops.step_runs WHERE run_id = $1 AND step = 'backup'`, [summary.runId]);
      assert.deepEqual(rows, [{ kind: 'backup', status: 'completed', rows: summary.backup.rows }]);
      const history = decodedHistory((await h.client.workflow.getHandle(summary.workflowId, summary.runId).fetchHistory()).events);
      const child = decodedHistory((await h.client.workflow.getHandle(`${summary.workflowId}-backup`).fetchHistory()).events);
      assert.ok(history.includes(to) && child.includes(to), 'both histories name the backup location');
      for (const secret of [minio.secretKey, minio.accessKey]) {
        assert.ok(!history.includes(secret), 'no S3 credential in the scheduled run history');
        assert.ok(!child.includes(secret), 'no S3 credential in the backup workflow history');
      }
    }
    assert.deepEqual(runs[1]!.backup!.removed, [runs[0]!.backup!.id], '--backup-keep 1: the second run removes the first backup');
    const store = openStore(to);
    const left = await listBackups(store, 'django-apparel');
    assert.deepEqual(left.map((m) => m.id), [runs[1]!.backup!.id]);
    assert.ok((await verifyBackup(store, left[0]!.id)).files.every((f) => f.ok));
    assert.ok(!(await everyOpsRow()).includes(minio.secretKey), 'no S3 credential in the ops tables');
    await h.client.schedule.getHandle('bk-nightly').delete();
  });

  void test('retention runs only after the new backup verifies: a file read back wrong keeps every older backup', async () => {
    const dir = path.join(work, 'retention');
    const first: BackupResult = await h.client.workflow.execute('backupWorkflow', { taskQueue: h.config.TEMPORAL_TASK_QUEUE, workflowId: 'backup-retention-0', args: [{ dataset: 'django-apparel', to: dir }] });
    // a second backup's files, written by the real activity, then its manifest through a store that reads one file back altered
    const second: BackupResult = await h.client.workflow.execute('backupWorkflow', { taskQueue: h.config.TEMPORAL_TASK_QUEUE, workflowId: 'backup-retention-1', args: [{ dataset: 'django-apparel', to: dir }] });
    const real = openStore(dir);
    const manifest = (await listBackups(real)).find((m) => m.id === second.id)!;
    await rm(path.join(dir, second.id, 'manifest.json'));
    const victim = manifest.tables.find((t) => t.table === 'warehouse.fct_transactions')!.file;
    const altering: BackupStore = {
      ...real,
      async read(name) {
        const stream = await real.read(name);
        if (!name.endsWith(victim)) return stream;
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        const bytes = Buffer.concat(chunks);
        bytes[bytes.length - 10] ^= 0xff;
        return Readable.from([bytes]);
      },
    };
    await assert.rejects(
      writeManifest(h.db.pool, altering, { id: second.id, dataset: 'django-apparel', createdAt: manifest.createdAt, tables: manifest.tables }, 1),
      new RegExp(`backup ${second.id} does not verify \\(.*${victim.replace(/\./g, '\\.')}.*no older backup was removed`),
    );
    assert.deepEqual((await listBackups(real)).map((m) => m.id), [first.id], 'the unverified backup stays incomplete (no manifest); the older one is kept');
    // the same files through the real store verify: the manifest is written and the older backup goes
    const ok = await writeManifest(h.db.pool, real, { id: second.id, dataset: 'django-apparel', createdAt: manifest.createdAt, tables: manifest.tables }, 1);
    assert.deepEqual(ok.removed, [first.id]);
    assert.deepEqual((await listBackups(real)).map((m) => m.id), [second.id]);
  });
});
