import type pg from 'pg';
import { transaction, withTransaction } from './db';

// Read-only work split over several connections that all read one snapshot (issue 14: the quality gates' checks
// are single-process queries, sorts mostly, that ran one after another on one connection while the machine's
// other cores idled). The first connection opens a REPEATABLE READ READ ONLY transaction and exports its snapshot
// (pg_export_snapshot); each further connection opens the same kind of transaction and imports it
// (SET TRANSACTION SNAPSHOT) before its first query, so every job sees exactly the database the first one sees,
// as if all of them ran in its transaction (pg_dump --jobs works the same way).
//
// The first connection never waits for the others: it starts on the jobs at once, and a further connection joins
// only if the pool hands it over while jobs are still queued. So a pool with one connection, or one that other
// work has exhausted, runs everything on the first connection, in order, as before; nothing can deadlock on it.

export interface SnapshotJobsOptions {
  /** Connections to use at most, the first included (1: all jobs on one connection, in order). */
  connections: number;
  /** Runs on every connection once it holds the snapshot, before its first job (transaction-local settings). */
  prepare?: (client: pg.ClientBase) => Promise<void>;
}

/** SET TRANSACTION SNAPSHOT takes a literal; an exported snapshot's id is hex digits and dashes. */
const SNAPSHOT_ID = /^[0-9A-F]+(-[0-9A-F]+)+$/i;

/**
 * Runs every job and returns their results in the jobs' order. A job that fails makes the others stop taking new
 * jobs; once the running ones have settled, the first failure (in job order) is thrown and every transaction is
 * rolled back.
 */
export async function runOnSharedSnapshot<T>(
  pool: pg.Pool,
  jobs: ReadonlyArray<(client: pg.ClientBase) => Promise<T>>,
  opts: SnapshotJobsOptions,
): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  const errors = new Map<number, unknown>();
  let next = 0;
  // What the further connections are running: the first connection commits only after all of it has settled.
  const inFlight: Promise<void>[] = [];

  // Takes the next job synchronously, so a job is either queued or counted in flight, never neither.
  const take = () => (errors.size > 0 || next >= jobs.length ? undefined : next++);
  const drain = async (client: pg.ClientBase, first: number) => {
    for (let i: number | undefined = first; i !== undefined; i = take()) {
      try {
        results[i] = await jobs[i]!(client);
      } catch (err) {
        errors.set(i, err);
        return;
      }
    }
  };

  const runJoined = async (client: pg.PoolClient, snapshot: string, first: number) => {
    let broken: Error | undefined;
    try {
      await transaction(
        client,
        async () => {
          await client.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
          await opts.prepare?.(client);
          await drain(client, first);
        },
        { isolation: 'REPEATABLE READ', readOnly: true },
      );
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      if (!errors.has(first)) errors.set(first, err);
    } finally {
      client.release(broken);
    }
  };

  // A further connection, if the pool hands one over while jobs are still queued (else it goes straight back).
  const join = (snapshot: string) => {
    pool.connect().then(
      (client) => {
        const first = take();
        if (first === undefined) client.release();
        else inFlight.push(runJoined(client, snapshot, first));
      },
      () => undefined, // no further connection to be had: the others carry on without it
    );
  };

  await withTransaction(
    pool,
    async (client) => {
      await opts.prepare?.(client);
      const first = take();
      if (first === undefined) return;
      if (opts.connections > 1 && jobs.length > 1) {
        const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
        const id = rows[0]?.id ?? '';
        if (!SNAPSHOT_ID.test(id)) throw new Error(`pg_export_snapshot() returned ${JSON.stringify(id)}, not a snapshot id`);
        for (let n = 1; n < Math.min(opts.connections, jobs.length); n++) join(id);
      }
      await drain(client, first);
      // The jobs the other connections took must finish while this transaction, the snapshot's owner, is open.
      while (inFlight.length > 0) await Promise.all(inFlight.splice(0));
    },
    { isolation: 'REPEATABLE READ', readOnly: true },
  );

  const failed = [...errors.keys()].sort((a, b) => a - b)[0];
  if (failed !== undefined) throw errors.get(failed);
  return results;
}
