import pg from 'pg';

// numeric and bigint come back as strings by default; parse them where they are always safe.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// ---------------------------------------------------------------------------------------------------------
// The connection-error guard. pg-pool listens for errors only on idle clients: a client in use (checked out, or
// running a pool.query) whose connection dies (pg_terminate_backend, a database restart, a network cut) emits
// 'error' with nobody listening, and Node ends the process. guardConnection() gives every client one listener
// for its whole life: the error fails the work in hand instead (the activity retries), and withClient() discards
// a client that saw one rather than handing it to the next caller.

const connectionErrors = new WeakMap<pg.ClientBase, Error | null>();

/** Attaches the one 'error' listener a client needs (idempotent). */
export function guardConnection(client: pg.ClientBase): void {
  if (connectionErrors.has(client)) return;
  connectionErrors.set(client, null);
  client.on('error', (err) => {
    connectionErrors.set(client, err);
    console.error(`postgres: connection lost (${err.message}); the statement in flight fails and is retried on a new connection`);
  });
}

export function createPool(connectionString: string, max = 8): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'gudang' });
  // An idle client that loses its connection: the pool drops it, and the next query connects afresh.
  pool.on('error', (err) => console.error(`postgres pool: idle connection lost (${err.message}); the next query reconnects`));
  pool.on('connect', guardConnection);
  return pool;
}

/** Runs fn with a client of its own; the client goes back to the pool afterwards, or is destroyed if anything failed. */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  guardConnection(client);
  let failed: Error | undefined;
  try {
    return await fn(client);
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(connectionErrors.get(client) ?? failed);
  }
}

export interface TransactionOptions {
  /** Default: the server's (READ COMMITTED). */
  isolation?: 'REPEATABLE READ' | 'SERIALIZABLE';
  readOnly?: boolean;
}

/** BEGIN ... COMMIT around fn on a client the caller holds; ROLLBACK (and rethrow) when fn fails. */
export async function transaction<T>(client: pg.ClientBase, fn: (client: pg.ClientBase) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const mode = [opts.isolation && `ISOLATION LEVEL ${opts.isolation}`, opts.readOnly && 'READ ONLY'].filter(Boolean).join(' ');
  await client.query(mode ? `BEGIN ${mode}` : 'BEGIN');
  try {
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A failed ROLLBACK means a broken connection: withClient discards the client because fn failed.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The transaction helper: fn runs inside BEGIN/COMMIT on a client of its own (see withClient and transaction). */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  return withClient(pool, (client) => transaction(client, () => fn(client), opts));
}
