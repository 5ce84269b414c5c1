import type { Pool, PoolClient } from '../db';

// Checked-out connections for the ingest engine. pg's pool listens for errors only on idle clients: a client in
// use whose connection dies (pg_terminate_backend, a database restart, a network cut) emits 'error' with nobody
// listening, and Node ends the process. Here a listener is attached for as long as the client is out, the error
// fails the work in hand instead (the activity retries), and a broken client is discarded, never reused.

/** Runs fn with a client of its own; the client is released (or destroyed, if anything went wrong) afterwards. */
export async function withClient<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    broken ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** BEGIN ... COMMIT on a guarded client; ROLLBACK on error. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
