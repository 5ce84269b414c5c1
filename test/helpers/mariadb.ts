/**
 * A fresh, uniquely named MariaDB database per test, on the server given by TEST_MARIADB_URL, else the local one
 * (127.0.0.1:3306, root, empty password). drop() removes it and any users the test created.
 */
import { randomBytes } from 'node:crypto';
import * as mariadb from 'mariadb';

export const DEFAULT_MARIADB_URL = 'mariadb://root@127.0.0.1:3306/mysql';

export interface TestMariadb {
  /** mariadb://root@host:port/<name> */
  url: string;
  name: string;
  /** Runs statements as the server's admin user. */
  admin(sql: string, values?: unknown[]): Promise<unknown>;
  /** Creates a user with a password, allowed everything on this database only; dropped by drop(). */
  createUser(user: string, password: string): Promise<void>;
  drop(): Promise<void>;
}

export async function createMariadbDatabase(prefix = 'gudang_test'): Promise<TestMariadb> {
  const server = new URL(process.env.TEST_MARIADB_URL || DEFAULT_MARIADB_URL);
  const pool = mariadb.createPool({
    host: server.hostname,
    port: Number(server.port) || 3306,
    user: decodeURIComponent(server.username) || 'root',
    password: decodeURIComponent(server.password),
    connectionLimit: 2,
  });
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await pool.query(`CREATE DATABASE \`${name}\``);
  const users: string[] = [];
  const url = new URL(server.toString());
  url.pathname = `/${name}`;
  url.protocol = 'mariadb:';
  return {
    url: url.toString(),
    name,
    admin: (sql, values) => pool.query(sql, values),
    async createUser(user, password) {
      await pool.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
      users.push(user);
      await pool.query(`GRANT ALL PRIVILEGES ON \`${name}\`.* TO ?@'%'`, [user]);
    },
    async drop() {
      await pool.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
      for (const u of users.splice(0)) await pool.query(`DROP USER IF EXISTS ?@'%'`, [u]).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
