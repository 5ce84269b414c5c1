/**
 * The local infrastructure the other integration tests stand on: the Temporal
 * dev server (src/dev/temporal-server.ts) and embedded PostgreSQL
 * (src/dev/embedded-postgres.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';
import { GUDANG_SEARCH_ATTRIBUTES, startDevServer } from '../../src/dev/temporal-server';
import { startTestTemporal } from '../helpers/temporal';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/** True when nothing listens on host:port any more (we can bind it ourselves). */
function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

const tempDirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe('Temporal dev server', () => {
  test('starts, serves the namespace with gudang search attributes, and stops cleanly', async (t) => {
    const started = Date.now();
    const server = await startTestTemporal();
    t.diagnostic(`dev server ready in ${server.startupMs ?? Date.now() - started} ms at ${server.address}`);
    let stopped = false;
    try {
      assert.match(server.address, /^127\.0\.0\.1:\d+$/);
      assert.equal(server.namespace, 'default');
      assert.equal(server.uiUrl, undefined, 'test servers are headless by default');

      const connection = await Connection.connect({ address: server.address });
      try {
        const client = new Client({ connection, namespace: server.namespace });
        const ns = await client.workflowService.describeNamespace({ namespace: server.namespace });
        assert.equal(ns.namespaceInfo?.name, server.namespace);

        const { customAttributes } = await connection.operatorService.listSearchAttributes({
          namespace: server.namespace,
        });
        for (const name of Object.keys(GUDANG_SEARCH_ATTRIBUTES)) {
          assert.equal(
            customAttributes?.[name],
            INDEXED_VALUE_TYPE_KEYWORD,
            `search attribute ${name} should be registered as Keyword`,
          );
        }
      } finally {
        await connection.close();
      }

      const stopStarted = Date.now();
      await server.stop();
      stopped = true;
      t.diagnostic(`dev server stopped in ${Date.now() - stopStarted} ms`);
      assert.ok(await portIsFree(portOf(server.address)), 'gRPC port should be released after stop()');
      if (server.pid !== undefined) assert.ok(processIsGone(server.pid), 'server process should have exited');
      await server.stop(); // idempotent
    } finally {
      if (!stopped) await server.stop();
    }
  });

  test('with a UI, a custom namespace and a SQLite file that persists across restarts', async (t) => {
    const dbFile = path.join(await tempDir('gudang-devserver-'), 'temporal.sqlite');
    const first = await startDevServer({ dbFile, namespace: 'gudang-it', headless: false });
    try {
      t.diagnostic(`dev server with UI and SQLite ready in ${first.startupMs} ms`);
      assert.equal(first.namespace, 'gudang-it');
      assert.ok(first.uiUrl, 'uiUrl is set when not headless');
      const res = await fetch(first.uiUrl);
      assert.equal(res.status, 200, 'Web UI answers');
      await res.body?.cancel();

      const connection = await Connection.connect({ address: first.address });
      try {
        await connection.workflowService.updateNamespace({
          namespace: 'gudang-it',
          updateInfo: { description: 'persisted by the devserver test' },
        });
      } finally {
        await connection.close();
      }
    } finally {
      await first.stop();
    }
    assert.ok(await portIsFree(portOf(first.address)));

    const second = await startDevServer({ dbFile, namespace: 'gudang-it', headless: true });
    try {
      const connection = await Connection.connect({ address: second.address });
      try {
        const ns = await connection.workflowService.describeNamespace({ namespace: 'gudang-it' });
        assert.equal(ns.namespaceInfo?.description, 'persisted by the devserver test');
      } finally {
        await connection.close();
      }
    } finally {
      await second.stop();
    }
  });
});

describe('embedded PostgreSQL', () => {
  test('starts, answers select 1, stops, and reuses its data directory', async (t) => {
    // The fresh temp dir itself: as root, PostgreSQL runs as the postgres user,
    // which could not enter a 0700 mkdtemp() parent.
    const dataDir = await tempDir('gudang-embedded-pg-');

    let started = Date.now();
    const first = await startEmbeddedPostgres({ dataDir });
    t.diagnostic(`embedded PostgreSQL (initdb + start) ready in ${Date.now() - started} ms`);
    try {
      assert.equal(first.dataDir, dataDir);
      const client = new pg.Client({ connectionString: first.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ one: number }>('select 1 as one');
        assert.deepEqual(rows, [{ one: 1 }]);
        await client.query('create table kept (id int)');
      } finally {
        await client.end();
      }
    } finally {
      await first.stop();
    }
    assert.ok(await portIsFree(first.port), 'port should be released after stop()');

    started = Date.now();
    const second = await startEmbeddedPostgres({ dataDir });
    t.diagnostic(`embedded PostgreSQL restart on the same data dir in ${Date.now() - started} ms`);
    try {
      const client = new pg.Client({ connectionString: second.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>('select count(*) as n from kept');
        assert.equal(rows[0]?.n, '0', 'the table created before the restart is still there');
      } finally {
        await client.end();
      }
    } finally {
      await second.stop();
    }
  });

  test('using it does not take over the process exit code', async () => {
    // embedded-postgres's async-exit-hook calls process.exit(0) on 'beforeExit',
    // which would turn a failing script into a passing one; startEmbeddedPostgres
    // removes those listeners. Checked in a child process that fails on purpose.
    const dir = await tempDir('gudang-embedded-pg-exit-');
    const script = path.join(dir, 'script.mts');
    const modulePath = fileURLToPath(new URL('../../src/dev/embedded-postgres.ts', import.meta.url));
    await writeFile(
      script,
      `import { startEmbeddedPostgres } from ${JSON.stringify(modulePath)};\n` +
        `const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(dir, 'data'))} });\n` +
        `await server.stop();\n` +
        `process.exitCode = 7;\n`,
    );
    await mkdir(path.join(dir, 'data'));
    await chmod(dir, 0o755);
    const result = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 7, `exit code should be kept; stderr:\n${result.stderr}`);
  });
});
