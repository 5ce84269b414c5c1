import pg from 'pg';

// numeric and bigint come back as strings by default; parse them where they are always safe.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(connectionString: string, max = 8): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'gudang' });
  // An idle client that loses its connection must not crash the worker; the next query reconnects.
  pool.on('error', (err) => console.error(`postgres pool: idle client error: ${err.message}`));
  // pg-pool drops its own listener while a client is checked out: a connection lost mid-query (a terminated
  // backend, a restarted server) would then be an unhandled 'error' event that kills the worker process.
  // With this listener the query in flight rejects instead, the activity fails and Temporal retries it.
  pool.on('connect', (client) => client.on('error', (err) => console.error(`postgres: connection lost: ${err.message}`)));
  return pool;
}

/** Runs fn inside BEGIN/COMMIT on one client; rolls back and discards a broken connection on error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
