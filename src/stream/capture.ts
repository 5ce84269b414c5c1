import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';
import type pg from 'pg';
import type { SourceDb } from '../sources/database';
import type { Pool } from '../db';
import { guardConnection } from '../db';
import type { StreamProgress } from '../contracts-stream';
import { applyBatch } from './apply';
import type { BatchResult, RowChange, SourceTxn, StreamTarget } from './apply';
import { formatLsn, parseLsn } from './lsn';
import { connectSource, slotState, where } from './source';

// One stretch of the stream: subscribe to the slot (pgoutput, protocol 1), collect whole source transactions of
// the streamed tables, apply them in micro-batches (src/stream/apply.ts), and acknowledge a position to the slot
// only once the batch that carries it has committed in the warehouse. While a batch is being applied, the next
// transactions queue up and become the next batch: under load the batches grow, when quiet each transaction is
// applied on its own as soon as it arrives.
//
// The library's own acknowledgement is switched off (auto: false, and no periodic status update, which would
// confirm the last position *received*): every standby status update sent here carries the applied position, or,
// when everything received has been applied and no transaction is open, the position of the server's last
// keepalive (nothing before it is left to apply).

/** pgoutput values as PostgreSQL's text, untouched: staging casts them, validation reads them like CSV fields. */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const msg = super.parse(buffer);
    if (msg.tag === 'relation') for (const c of msg.columns) c.parser = (raw: unknown) => raw;
    return msg;
  }
}

export interface StretchOptions {
  pool: Pool;
  db: SourceDb;
  target: StreamTarget;
  slot: string;
  publication: string;
  /** How long to capture before returning. */
  stretchMs: number;
  /** Largest batch, in changes (a bigger backlog is applied in several batches). */
  maxBatchChanges?: number;
  /** Aborted: finish the batch in hand and return. */
  signal?: AbortSignal;
  /** Called after every batch and every second: the activity heartbeats with it. */
  onProgress?: (p: StreamProgress) => void;
  log?: (line: string) => void;
}

const STATUS_EVERY_MS = 1_000;
const SLOT_STATE_EVERY_MS = 2_000;
const TABLE_CHECK_EVERY_MS = 1_000;
const HOLD_RETRY_MS = 500;

export async function runStretch(o: StretchOptions): Promise<StreamProgress> {
  const progress: StreamProgress = { batches: 0, changes: 0, appliedLsn: null, lastLagMs: null, maxLagMs: 0, retainedWalBytes: null };
  const sources = new Set(o.target.stream.sources);
  const maxBatch = o.maxBatchChanges ?? 20_000;
  const log = o.log ?? (() => undefined);

  const warehouse = await o.pool.connect();
  guardConnection(warehouse);
  let warehouseFailed: Error | undefined;
  let sourceClient: pg.Client | undefined;
  const service = new LogicalReplicationService(
    { host: o.db.host, port: o.db.port, user: o.db.user, password: o.db.password, database: o.db.database, application_name: 'gudang-stream', connectionTimeoutMillis: 10_000 },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );

  let open: SourceTxn | null = null;
  const queue: SourceTxn[] = [];
  let applying: Promise<void> | null = null;
  let applied = -1n; // highest end LSN known applied (from ops.streams, then from our batches)
  let lastKeepalive = 0n;
  let failure: Error | null = null;
  let lastTableCheck = Date.now();
  let heldBy: string | undefined;
  let stretchOver = false;

  const { rows } = await warehouse.query<{ applied_lsn: string | null }>(`SELECT applied_lsn FROM ops.streams WHERE dataset = $1`, [o.target.dataset.name]);
  if (rows[0]?.applied_lsn) applied = parseLsn(rows[0].applied_lsn);
  progress.appliedLsn = rows[0]?.applied_lsn ?? null;

  /** What may be confirmed to the slot: the applied position, or the last keepalive when nothing is pending. */
  const confirmable = () => (open === null && queue.length === 0 && applying === null && lastKeepalive > applied ? lastKeepalive : applied);
  /** A standby status update with the confirmable position; `ping` asks the server for a keepalive (its position). */
  const ack = async (ping = false) => {
    const at = confirmable();
    if (at > 0n && !service.isStop()) await confirmPosition(service, at, ping).catch(() => undefined);
  };

  const applyQueued = async (force = false): Promise<void> => {
    while ((queue.length > 0 || force) && !failure) {
      force = false;
      const batch: SourceTxn[] = [];
      let n = 0;
      while (queue.length > 0 && (batch.length === 0 || n + queue[0]!.changes.length <= maxBatch)) {
        const x = queue.shift()!;
        n += x.changes.length;
        batch.push(x);
      }
      const result = await applyBatch(warehouse, o.target, batch, { receivedAt: new Date(), retainedWalBytes: progress.retainedWalBytes, log });
      if ('held' in result) {
        // a pipeline run of the dataset is in progress: keep the batch, ask again shortly
        queue.unshift(...batch);
        if (heldBy !== result.held) log(`stream ${o.target.dataset.name}: holding batches while run ${result.held} is in progress`);
        heldBy = result.held;
        progress.heldBy = heldBy;
        o.onProgress?.({ ...progress });
        await new Promise((r) => setTimeout(r, HOLD_RETRY_MS));
        if (o.signal?.aborted || stretchOver) return;
        continue;
      }
      heldBy = undefined;
      delete progress.heldBy;
      if ('batchId' in result) record(result);
      const end = batch.length > 0 ? batch[batch.length - 1]!.endLsn : applied;
      if (end > applied) applied = end;
      progress.appliedLsn = formatLsn(applied > 0n ? applied : 0n);
      await ack();
    }
  };
  const record = (r: BatchResult) => {
    progress.batches++;
    progress.changes += r.changes;
    if (r.transactions > 0) {
      progress.lastLagMs = r.lagMs;
      progress.maxLagMs = Math.max(progress.maxLagMs, r.lagMs);
    }
    o.onProgress?.({ ...progress });
  };
  const kick = (force = false) => {
    if (applying || failure) return;
    applying = applyQueued(force)
      .catch((err: unknown) => {
        warehouseFailed = err as Error;
        failure ??= err as Error;
      })
      .finally(() => {
        applying = null;
        if (queue.length > 0) kick();
      });
  };

  service.on('data', (_lsn: string, msg: Pgoutput.Message) => {
    switch (msg.tag) {
      case 'begin':
        open = { endLsn: 0n, commitTimeUs: msg.commitTime as bigint, changes: [] };
        break;
      case 'insert':
      case 'update':
      case 'delete': {
        if (!open || !sources.has(msg.relation.name)) break;
        open.changes.push(...toChanges(msg));
        break;
      }
      case 'truncate':
        if (msg.relations.some((r) => sources.has(r.name))) failure ??= new Error(`source ${where(o.db)}: TRUNCATE of ${msg.relations.map((r) => r.name).join(', ')}: the stream cannot apply a truncate; run a full refresh, then start the stream again`);
        break;
      case 'commit': {
        if (!open) break;
        open.endLsn = parseLsn(msg.commitEndLsn!);
        open.commitTimeUs = msg.commitTime as bigint;
        const done: SourceTxn = open;
        open = null;
        if (done.endLsn <= applied) break; // applied before: the slot sent it again
        queue.push(done);
        kick();
        break;
      }
      default:
        break;
    }
  });
  service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) => {
    const at = parseLsn(lsn);
    if (at > lastKeepalive) lastKeepalive = at;
    if (shouldRespond) void ack();
  });
  service.on('error', (err: Error) => {
    failure ??= err;
  });

  const started = Date.now();
  const timers: NodeJS.Timeout[] = [];
  try {
    sourceClient = await connectSource(o.db, 'gudang-stream-status');
    const measure = async () => {
      const s = await slotState(sourceClient!, o.slot).catch(() => undefined);
      if (s) progress.retainedWalBytes = s.retainedWalBytes;
    };
    await measure();
    await takeOverSlot(sourceClient, o.slot, log);
    const subscribed = service.subscribe(new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [o.publication] }), o.slot, formatLsn(applied > 0n ? applied : 0n));
    subscribed.catch((err: unknown) => {
      failure ??= err as Error;
    });
    timers.push(setInterval(() => void ack(true), STATUS_EVERY_MS));
    timers.push(setInterval(() => void measure(), SLOT_STATE_EVERY_MS));
    timers.push(setInterval(() => o.onProgress?.({ ...progress }), 1_000));

    // capture until the stretch is over, stopped, or something failed
    while (!failure && !o.signal?.aborted && Date.now() - started < o.stretchMs) {
      await new Promise((r) => setTimeout(r, 100));
      if (!applying && queue.length === 0 && Date.now() - lastTableCheck >= TABLE_CHECK_EVERY_MS) {
        lastTableCheck = Date.now();
        kick(true); // a quiet source: still notice a run's publish and rebuild what it overwrote
      }
    }
    // finish the batch in hand and what has queued (complete transactions only), then confirm
    stretchOver = true;
    while (applying) await applying;
    if (!failure && queue.length > 0) {
      kick();
      while (applying) await applying;
    }
    if (!failure) await ack();
    if (failure) throw failure;
    return progress;
  } finally {
    for (const t of timers) clearInterval(t);
    await service.destroy().catch(() => undefined);
    await sourceClient?.end().catch(() => undefined);
    warehouse.release(warehouseFailed);
  }
}

/**
 * A standby status update that confirms exactly `lsn` to the slot. The library's acknowledge(x) reports x + 1 (the
 * physical-replication reading, "last byte + 1"), but a logical slot skips, when it is read again, every transaction
 * whose commit record starts before the confirmed position: confirming a keepalive's position + 1 dropped the
 * transaction whose commit record starts right there (its changes were read, its commit was not yet flushed), and
 * the next stretch, worker or source restart never saw it (issue 13: an order update lost across a fault). So it
 * is given lsn - 1. Tested in test/integration/stream-confirm.test.ts.
 */
export async function confirmPosition(service: LogicalReplicationService, lsn: bigint, ping = false): Promise<boolean> {
  if (lsn <= 0n) throw new Error(`confirmPosition: ${lsn} is not a position to confirm`);
  return service.acknowledge(formatLsn(lsn - 1n), ping);
}

/**
 * A slot still held by an earlier attempt (a worker that died, or that Temporal gave up on after its heartbeat
 * timeout): its walsender is ended, so this attempt does not fail on "replication slot is active" until the source
 * notices by itself. Two holders cannot both apply: every batch locks the stream's row and re-reads applied_lsn.
 */
async function takeOverSlot(client: pg.Client, slot: string, log: (line: string) => void): Promise<void> {
  const { rows } = await client.query<{ pid: number | null }>(`SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND active`, [slot]);
  const pid = rows[0]?.pid;
  if (!pid) return;
  log(`replication slot ${slot} is held by walsender ${pid} (an earlier attempt): ending it`);
  await client.query(`SELECT pg_terminate_backend($1)`, [pid]);
  for (let i = 0; i < 50; i++) {
    const { rows: still } = await client.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active`, [slot]);
    if (still.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A pgoutput row change as netted changes: a key change is a delete of the old key and an upsert of the new row. */
function toChanges(msg: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete): RowChange[] {
  const source = msg.relation.name;
  const text = (r: Record<string, unknown> | null) => Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)]));
  if (msg.tag === 'insert') return [{ source, kind: 'insert', op: 'upsert', row: text(msg.new) }];
  if (msg.tag === 'delete') return [{ source, kind: 'delete', op: 'delete', row: text(msg.key ?? msg.old) }];
  const row = text(msg.new);
  const out: RowChange[] = [];
  const old = msg.key ?? msg.old;
  if (old) {
    const keys = msg.relation.keyColumns;
    if (keys.some((k) => String(old[k]) !== row[k])) out.push({ source, kind: 'update', op: 'delete', row: text(old) });
  }
  out.push({ source, kind: 'update', op: 'upsert', row });
  return out;
}
