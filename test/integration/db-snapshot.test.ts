import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPool } from '../../src/db';
import { runOnSharedSnapshot } from '../../src/db-snapshot';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// runOnSharedSnapshot (src/db-snapshot.ts), which the quality gates run their checks with (issue 14): jobs on
// several connections that all read one snapshot, results in job order, the first failure in job order thrown,
// and no deadlock when the pool cannot hand over a second connection.

let db: TestDatabase;

const pidAndCount = async (client: pg.ClientBase) => {
  const { rows } = await client.query<{ pid: number; n: number; period: string }>(
    `SELECT pg_backend_pid() AS pid, (SELECT count(*)::int FROM t) AS n, current_setting('gudang.period', true) AS period`,
  );
  return rows[0]!;
};

const prepare = async (client: pg.ClientBase) => {
  await client.query(`SELECT set_config('gudang.period', '2022-02', true)`);
};

void describe('runOnSharedSnapshot', () => {
  before(async () => {
    db = await createTestDatabase('gudang_snapshot');
    await db.pool.query('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)');
  });

  after(async () => {
    await db?.drop();
  });

  test('a job on the second connection reads the first one\'s snapshot, not a row committed since', async () => {
    const outside = new pg.Client({ connectionString: db.url });
    await outside.connect();
    let secondStarted!: () => void;
    const secondRunning = new Promise<void>((resolve) => (secondStarted = resolve));
    let prepared = 0;
    try {
      const results = await runOnSharedSnapshot(
        db.pool,
        [
          async (client) => {
            // the first connection is busy here, so the second job can only run on another
            const started = new Promise((_, reject) => setTimeout(() => reject(new Error('the second job never started')), 10_000).unref());
            await Promise.race([secondRunning, started]);
            return pidAndCount(client);
          },
          async (client) => {
            secondStarted();
            return pidAndCount(client);
          },
        ],
        {
          connections: 2,
          prepare: async (client) => {
            await prepare(client);
            // the first connection prepares first, its snapshot taken; a row committed now, before the second
            // connection has even been asked for, is in any snapshot taken later but not in the shared one
            if (prepared++ === 0) await outside.query('INSERT INTO t VALUES (2)');
          },
        },
      );
      assert.equal(prepared, 2, 'both connections were prepared');
      assert.equal(results.length, 2);
      assert.notEqual(results[0]!.pid, results[1]!.pid, 'the two jobs ran on two connections');
      assert.deepEqual(
        results.map((r) => [r.n, r.period]),
        [
          [1, '2022-02'],
          [1, '2022-02'],
        ],
        'both read the snapshot (one row) with the prepared settings',
      );
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
      assert.equal(rows[0]!.n, 2, 'the outside insert did commit');
    } finally {
      await db.pool.query('DELETE FROM t WHERE id = 2');
      await outside.end();
    }
  });

  test('connections: 1 runs every job on one connection, in order', async () => {
    const order: number[] = [];
    const results = await runOnSharedSnapshot(
      db.pool,
      [0, 1, 2].map((i) => async (client: pg.ClientBase) => {
        order.push(i);
        return (await pidAndCount(client)).pid;
      }),
      { connections: 1 },
    );
    assert.deepEqual(order, [0, 1, 2]);
    assert.equal(new Set(results).size, 1);
  });

  test('a pool with one connection runs everything on it instead of waiting for a second', async () => {
    const one = createPool(db.url, 1);
    try {
      const results = await runOnSharedSnapshot(one, [0, 1, 2, 3].map((i) => async (client: pg.ClientBase) => ({ i, ...(await pidAndCount(client)) })), {
        connections: 4,
        prepare,
      });
      assert.deepEqual(
        results.map((r) => r.i),
        [0, 1, 2, 3],
      );
      assert.equal(new Set(results.map((r) => r.pid)).size, 1);
      assert.ok(results.every((r) => r.n === 1 && r.period === '2022-02'));
    } finally {
      await one.end();
    }
  });

  test('the first failure in job order is thrown, and a failed job stops the queue', async () => {
    const started: number[] = [];
    const jobs = [0, 1, 2, 3, 4, 5].map((i) => async (client: pg.ClientBase) => {
      started.push(i);
      if (i === 1) await client.query('SELECT pg_sleep(0.2)'); // fails after job 2 has failed
      if (i === 1 || i === 2) await client.query(`SELECT * FROM no_such_table_${i}`);
      return i;
    });
    await assert.rejects(runOnSharedSnapshot(db.pool, jobs, { connections: 2 }), /no_such_table_1/);
    assert.ok(!started.includes(5), `jobs after both failures were not started (started: ${started.join(', ')})`);
    // the pool's connections are usable afterwards (their transactions were ended)
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
    assert.equal(rows[0]!.n, 1);
  });
});
