import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';
import { confirmPosition } from '../../src/stream/capture';
import { formatLsn, parseLsn } from '../../src/stream/lsn';
import { startLogicalPostgres } from '../helpers/logical-postgres';
import type { LogicalPostgres } from '../helpers/logical-postgres';

// What the stream confirms to its slot (issue 13). A logical slot read again skips every transaction whose commit
// record starts before the confirmed position. The stream confirms a keepalive's position when it has nothing
// pending, and that position can be exactly where the next transaction's commit record starts (its changes read,
// its commit not yet flushed). Confirming one byte more lost that transaction on the next stretch, worker or source
// restart: an order update vanished across the stream fault tests. These tests pin both facts on a real server.

let shop: LogicalPostgres;
let client: pg.Client;

/** A transaction on t whose commit record starts at the returned position (nothing else writes WAL here). */
async function commitAt(id: number): Promise<bigint> {
  await client.query('BEGIN');
  await client.query('INSERT INTO t VALUES ($1)', [id]);
  const at = (await client.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l;
  await client.query('COMMIT');
  return parseLsn(at);
}

/** Waits until the source has flushed its WAL past `lsn` (the shop runs with synchronous_commit=off). */
async function flushedPast(lsn: bigint): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await client.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l');
    if (parseLsn(rows[0]!.l) > lsn) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the shop did not flush its WAL past ${formatLsn(lsn)}`);
}

before(async () => {
  shop = await startLogicalPostgres();
  client = new pg.Client({ connectionString: shop.url });
  await client.connect();
  await client.query('CREATE TABLE t (id int PRIMARY KEY)');
  await client.query('CREATE PUBLICATION confirm_pub FOR TABLE t');
});

after(async () => {
  await client?.end().catch(() => undefined);
  await shop?.stop();
});

describe('the position the stream confirms to its slot', () => {
  test('the server: confirming the start of a commit record keeps that transaction, one byte more drops it', async () => {
    for (const slot of ['exact', 'one_more']) await client.query(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
    const at = await commitAt(1);
    await client.query('INSERT INTO t VALUES (2)');
    await flushedPast(at);
    await client.query(`SELECT pg_replication_slot_advance('exact', $1::pg_lsn)`, [formatLsn(at)]);
    await client.query(`SELECT pg_replication_slot_advance('one_more', $1::pg_lsn)`, [formatLsn(at + 1n)]);
    const inserts = async (slot: string) =>
      (await client.query<{ data: string }>(`SELECT data FROM pg_logical_slot_peek_changes($1, NULL, NULL) WHERE data LIKE 'table public.t: INSERT%'`, [slot])).rows.map((r) => r.data);
    assert.deepEqual(await inserts('exact'), ['table public.t: INSERT: id[integer]:1', 'table public.t: INSERT: id[integer]:2']);
    assert.deepEqual(await inserts('one_more'), ['table public.t: INSERT: id[integer]:2'], 'the server no longer drops a transaction confirmed one byte past its commit record: the reason for confirmPosition is gone');
    for (const slot of ['exact', 'one_more']) await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
  });

  test('confirmPosition sets the slot to exactly the position given, and the transaction committed there arrives on the next subscription', async () => {
    const slot = 'stream_like';
    await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const at = await commitAt(3);
    await flushedPast(at);
    const cfg = { connectionString: shop.url };

    // a first subscription confirms the position where the transaction's commit record starts, as the stream
    // does with a keepalive's position, and goes away
    const first = new LogicalReplicationService(cfg, { acknowledge: { auto: false, timeoutSeconds: 0 } });
    const started = new Promise<void>((resolve) => first.once('start', () => resolve()));
    first.on('error', () => undefined);
    void first.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['confirm_pub'] }), slot, '0/0').catch(() => undefined);
    await started;
    assert.equal(await confirmPosition(first, at), true);
    let confirmed = '';
    for (let i = 0; i < 100 && confirmed !== formatLsn(at); i++) {
      await new Promise((r) => setTimeout(r, 50));
      confirmed = (await client.query<{ l: string }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]!.l;
    }
    assert.equal(confirmed, formatLsn(at), 'the slot holds exactly the confirmed position');
    await first.destroy();

    // the next subscription (a new stretch, another worker) still receives the transaction
    const second = new LogicalReplicationService(cfg, { acknowledge: { auto: false, timeoutSeconds: 0 } });
    const ids: string[] = [];
    second.on('data', (_lsn: string, msg: Pgoutput.Message) => {
      if (msg.tag === 'insert') ids.push(String(msg.new.id));
    });
    second.on('error', () => undefined);
    void second.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['confirm_pub'] }), slot, '0/0').catch(() => undefined);
    for (let i = 0; i < 100 && ids.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await second.destroy();
    assert.deepEqual(ids, ['3']);
  });

  test('a position is never confirmed below 1', async () => {
    const service = new LogicalReplicationService({ connectionString: shop.url });
    await assert.rejects(confirmPosition(service, 0n), /0 is not a position to confirm/);
  });
});
