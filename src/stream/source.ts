import pg from 'pg';
import { InputError } from '../errors';
import type { SourceDb } from '../sources/database';
import type { StreamSpec } from '../datasets/types';

// The source side of a stream: the shop's PostgreSQL (wal_level=logical), its publication of the streamed tables
// and its pgoutput replication slot. Names are derived from the dataset (gudang_<dataset>), so one stream per
// dataset and source database. Every identifier inlined below is either checked here or comes from the registry.

export function slotNameFor(dataset: string): string {
  const name = `gudang_${dataset.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (name.length > 63) throw new InputError('ConfigError', `dataset name ${dataset} is too long for a replication slot name`);
  return name;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function where(db: SourceDb): string {
  return `postgres://${db.user}@${db.host}:${db.port}/${db.database}`;
}

/** A plain (non-replication) connection to the source database. */
export async function connectSource(db: SourceDb, application = 'gudang-stream'): Promise<pg.Client> {
  if (db.kind !== 'postgres') {
    throw new InputError('ConfigError', `source database ${where(db)} is ${db.kind}: the real-time stream reads PostgreSQL logical replication only (see docs/stream.md)`);
  }
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, application_name: application, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a lost connection fails the query in flight
  try {
    await client.connect();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === '28P01' || e.code === '28000' || e.code === '3D000') {
      throw new InputError('ConfigError', `source database ${where(db)}: ${e.message} (the password comes from the worker's GUDANG_SOURCE_DB_URL or GUDANG_SOURCE_DB_PASSWORD)`);
    }
    throw err;
  }
  return client;
}

export interface PreparedSource {
  slot: string;
  publication: string;
  /** True when the slot was created now: the warehouse must be loaded from the source once (the initial load). */
  created: boolean;
}

/** Checks wal_level and the tables, creates the publication and the slot when missing. Safe to repeat. */
export async function prepareSource(db: SourceDb, dataset: string, stream: StreamSpec): Promise<PreparedSource> {
  const client = await connectSource(db);
  try {
    const level = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
    if (level !== 'logical') {
      throw new InputError(
        'ConfigError',
        `source database ${where(db)} has wal_level=${level}: the stream needs wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart that PostgreSQL)`,
      );
    }
    const { rows: found } = await client.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace`,
      [stream.sources],
    );
    const missing = stream.sources.filter((s) => !found.some((f) => f.relname === s));
    if (missing.length > 0) throw new InputError('ConfigError', `source database ${where(db)} has no table ${missing.join(', ')} (in schema ${(await client.query('SELECT current_schema() AS s')).rows[0].s})`);
    const name = slotNameFor(dataset);
    const tables = stream.sources.map(ident).join(', ');
    const pub = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [name]);
    if (pub.rowCount === 0) await client.query(`CREATE PUBLICATION ${ident(name)} FOR TABLE ${tables}`);
    else await client.query(`ALTER PUBLICATION ${ident(name)} SET TABLE ${tables}`);
    const slot = await client.query<{ plugin: string; database: string }>(`SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1`, [name]);
    let created = false;
    if (slot.rowCount === 0) {
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
      created = true;
    } else if (slot.rows[0]!.plugin !== 'pgoutput' || slot.rows[0]!.database !== db.database) {
      throw new InputError('ConfigError', `source database ${where(db)}: replication slot ${name} exists for plugin ${slot.rows[0]!.plugin} on database ${slot.rows[0]!.database}; drop it (SELECT pg_drop_replication_slot('${name}')) and start again`);
    }
    return { slot: name, publication: name, created };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface SlotState {
  active: boolean;
  restartLsn: string | null;
  confirmedFlushLsn: string | null;
  currentLsn: string;
  /** pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn): WAL the source keeps for this slot. */
  retainedWalBytes: number | null;
  /** pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn): WAL written since the stream's last acknowledged position. */
  pendingWalBytes: number | null;
}

export async function slotState(client: pg.ClientBase, slot: string): Promise<SlotState | undefined> {
  const { rows } = await client.query(
    `SELECT active, restart_lsn::text AS restart_lsn, confirmed_flush_lsn::text AS confirmed_flush_lsn, pg_current_wal_lsn()::text AS current_lsn,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS pending
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return undefined;
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { active: r.active, restartLsn: r.restart_lsn, confirmedFlushLsn: r.confirmed_flush_lsn, currentLsn: r.current_lsn, retainedWalBytes: num(r.retained), pendingWalBytes: num(r.pending) };
}

/** Drops the slot and the publication (the source stops keeping WAL for the stream). True when a slot was dropped. */
export async function dropSource(db: SourceDb, dataset: string): Promise<boolean> {
  const client = await connectSource(db);
  try {
    const name = slotNameFor(dataset);
    const slot = await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [name]);
    await client.query(`DROP PUBLICATION IF EXISTS ${ident(name)}`);
    return (slot.rowCount ?? 0) > 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}
