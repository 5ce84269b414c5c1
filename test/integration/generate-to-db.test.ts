import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import * as mariadb from 'mariadb';
import pg from 'pg';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';
import { createMariadbDatabase } from '../helpers/mariadb';
import type { TestMariadb } from '../helpers/mariadb';

// `npm run generate -- --to-db URL` (issue 13): the generator's orders and order lines land in the shop database's
// orders and order_details tables, row for row as in the CSV files it wrote, in PostgreSQL and in MariaDB. The
// command is run as a process, the way an operator runs it; the tables are read back and compared with the files.

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const SECRET = 'g3n-to-db-pw';

let dir: string;
let pgShop: TestDatabase;
let maria: TestMariadb;

async function generate(out: string, lines: number, url: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'dataset/generate.ts', '--order-lines', String(lines), '--months', '3', '--seed', '5', '--out', out, '--to-db', url], {
    cwd: ROOT,
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    timeout: 120_000,
  });
  return stdout;
}

/** A CSV file's data rows, each as its fields with numbers in one spelling (the database prints 795000.00 for 795000). */
async function csvRows(file: string): Promise<string[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').slice(1).filter(Boolean);
  return lines.map((l) => l.split(',').map(norm).join(','));
}

const norm = (v: unknown): string => {
  const s = String(v);
  return /^-?\d+\.\d+$/.test(s) ? String(Number(s)) : s;
};

const ORDER_COLS = ['order_id', 'order_date', 'customer_id', 'province_id', 'city_id'];
const DETAIL_COLS = ['order_detail_id', 'order_id', 'product_id', 'qty', 'item_price', 'unit_sales'];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-gen-todb-'));
  [pgShop, maria] = await Promise.all([createTestDatabase('gudang_gen_shop'), createMariadbDatabase('gudang_gen_shop')]);
});

after(async () => {
  await pgShop?.drop();
  await maria?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

void describe('npm run generate -- --to-db URL', () => {
  void test('PostgreSQL: orders and order_details hold exactly the generated rows; a second seeding replaces them', async () => {
    const out = path.join(dir, 'pg');
    await generate(out, 9_000, pgShop.url); // replaced by the next seeding, not added to
    const stdout = await generate(out, 12_345, pgShop.url);
    assert.match(stdout, /seeded postgres:\/\/[^@]+@127\.0\.0\.1:\d+\/gudang_gen_shop\S*: orders \d+ rows, order_details 12345 rows/);
    const client = new pg.Client({ connectionString: pgShop.url });
    await client.connect();
    try {
      for (const [table, cols] of [['orders', ORDER_COLS], ['order_details', DETAIL_COLS]] as const) {
        const select = cols.map((c) => (c === 'order_date' ? `to_char(order_date, 'YYYY-MM-DD HH24:MI:SS.MS')` : c)).join(', ');
        const { rows } = await client.query({ text: `SELECT ${select} FROM ${table} ORDER BY 1`, rowMode: 'array' });
        const got = (rows as unknown[][]).map((r) => r.map(norm).join(','));
        assert.deepEqual(got, await csvRows(path.join(out, `${table}.csv`)), `${table} equals ${table}.csv`);
      }
      const keys = await client.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE tablename IN ('orders', 'order_details') AND indexdef LIKE '%UNIQUE%'`);
      assert.equal(keys.rows[0].n, 2, 'both tables have their primary key');
    } finally {
      await client.end();
    }
  });

  void test('MariaDB, as a user with a password: the same rows, and the password is not printed', async () => {
    const user = `ggen_${maria.name.slice(-8)}`;
    await maria.createUser(user, SECRET);
    const u = new URL(maria.url);
    u.username = user;
    u.password = SECRET;
    const out = path.join(dir, 'maria');
    const stdout = await generate(out, 12_345, u.toString());
    assert.ok(!stdout.includes(SECRET), 'the password is not printed');
    assert.match(stdout, new RegExp(`seeded mariadb://${user}@127\\.0\\.0\\.1:3306/${maria.name}: orders \\d+ rows, order_details 12345 rows`));
    const conn = await mariadb.createConnection({ host: u.hostname, port: Number(u.port) || 3306, user, password: SECRET, database: maria.name, dateStrings: true });
    try {
      for (const [table, cols] of [['orders', ORDER_COLS], ['order_details', DETAIL_COLS]] as const) {
        const rows = await conn.query<unknown[][]>({ sql: `SELECT ${cols.join(', ')} FROM ${table} ORDER BY 1`, rowsAsArray: true });
        const got = rows.map((r) => r.map(norm).join(','));
        assert.deepEqual(got, await csvRows(path.join(out, `${table}.csv`)), `${table} equals ${table}.csv`);
      }
    } finally {
      await conn.end();
    }
  });

  void test('a URL that is not a PostgreSQL or MariaDB database is refused before anything is generated', async () => {
    await assert.rejects(generate(path.join(dir, 'bad'), 10, 'sqlite:///tmp/shop'), (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr ?? '', /expected postgres:\/\/ or mariadb:\/\//);
      return true;
    });
  });
});
