import type pg from 'pg';
import { parseSourceDbUrl } from '../sources/database';
import { connectSource, slotState } from './source';
import type { SlotState } from './source';

// What `stream status` prints: the stream's row in ops.streams, the lag over its recent batches (source commit to
// mart commit, per source transaction), batch sizes, and the slot's retained WAL read from the source itself.

export interface StreamReport {
  dataset: string;
  sourceDb: string;
  slot: string;
  status: string;
  appliedLsn: string | null;
  appliedAt: Date | null;
  batches: number;
  changes: number;
  recent: {
    batches: number;
    transactions: number;
    lagP50Ms: number | null;
    lagP95Ms: number | null;
    lagMaxMs: number | null;
    sizeP50: number | null;
    sizeMax: number | null;
    rejected: number;
    reapplied: number;
  };
  /** Rows kept out of staging now (ops.stream_rejected): failing validation, and children held with their parent. */
  keptOut: { invalid: number; quarantined: number };
  lastLagMs: number | null;
  /** Seconds since the last batch committed. */
  idleSeconds: number | null;
  slotState?: SlotState;
  slotError?: string;
}

export async function streamReport(pool: pg.Pool, dataset: string, opts: { sourceDbUrl?: string; recent?: number } = {}): Promise<StreamReport | undefined> {
  const { rows } = await pool.query(
    `SELECT dataset, source_db, slot_name, status, applied_lsn, applied_at, batches, changes, last_lag_ms, retained_wal_bytes,
            extract(epoch FROM now() - applied_at)::float8 AS idle
       FROM ops.streams WHERE dataset = $1`,
    [dataset],
  );
  const s = rows[0];
  if (!s) return undefined;
  const { rows: stats } = await pool.query(
    `WITH recent AS (
       SELECT * FROM ops.stream_batches WHERE dataset = $1 AND transactions > 0 ORDER BY batch_id DESC LIMIT $2
     ), lags AS (SELECT unnest(lags_ms) AS l FROM recent)
     SELECT (SELECT count(*) FROM recent)::int AS batches,
            (SELECT coalesce(sum(transactions), 0) FROM recent)::int AS transactions,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l) FROM lags) AS p50,
            (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY l) FROM lags) AS p95,
            (SELECT max(l) FROM lags) AS max,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY changes) FROM recent) AS size_p50,
            (SELECT max(changes) FROM recent) AS size_max,
            (SELECT coalesce(sum(jsonb_array_length(rejected)), 0) FROM recent)::int AS rejected,
            (SELECT coalesce(sum(reapplied), 0) FROM ops.stream_batches WHERE dataset = $1)::int AS reapplied`,
    [dataset, opts.recent ?? 1000],
  );
  const st = stats[0];
  const { rows: kept } = await pool.query<{ invalid: number; quarantined: number }>(
    `SELECT count(*) FILTER (WHERE kind = 'invalid')::int AS invalid, count(*) FILTER (WHERE kind <> 'invalid')::int AS quarantined FROM ops.stream_rejected WHERE dataset = $1`,
    [dataset],
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const report: StreamReport = {
    dataset,
    sourceDb: s.source_db,
    slot: s.slot_name,
    status: s.status,
    appliedLsn: s.applied_lsn,
    appliedAt: s.applied_at,
    batches: Number(s.batches),
    changes: Number(s.changes),
    recent: {
      batches: st.batches,
      transactions: st.transactions,
      lagP50Ms: num(st.p50),
      lagP95Ms: num(st.p95),
      lagMaxMs: num(st.max),
      sizeP50: num(st.size_p50),
      sizeMax: num(st.size_max),
      rejected: st.rejected,
      reapplied: st.reapplied,
    },
    keptOut: kept[0]!,
    lastLagMs: num(s.last_lag_ms),
    idleSeconds: num(s.idle),
  };
  if (opts.sourceDbUrl) {
    try {
      const client = await connectSource(parseSourceDbUrl(opts.sourceDbUrl), 'gudang-stream-status');
      try {
        report.slotState = await slotState(client, s.slot_name);
        if (!report.slotState) report.slotError = `no replication slot ${s.slot_name} on the source (dropped?)`;
      } finally {
        await client.end().catch(() => undefined);
      }
    } catch (err) {
      report.slotError = (err as Error).message;
    }
  }
  return report;
}

const ms = (v: number | null) => (v === null ? '-' : `${Math.round(v)} ms`);
const bytes = (v: number | null | undefined) => (v === null || v === undefined ? '?' : v < 1024 * 1024 ? `${(v / 1024).toFixed(1)} kB` : `${(v / 1024 / 1024).toFixed(1)} MB`);

export function formatStreamReport(r: StreamReport, workflow?: { status: string; phase?: string }): string {
  const lines = [
    `stream ${r.dataset}: ${r.status}${workflow ? ` (workflow ${workflow.status}${workflow.phase ? `, ${workflow.phase}` : ''})` : ''}`,
    `  source       ${r.sourceDb}, slot ${r.slot}`,
    `  applied      up to ${r.appliedLsn ?? '-'}${r.appliedAt ? ` at ${r.appliedAt.toISOString()} (${r.idleSeconds?.toFixed(1)} s ago)` : ''}; ${r.batches} batches, ${r.changes} changes in all`,
    `  lag          current ${ms(r.lastLagMs)} (last batch); last ${r.recent.batches} batches (${r.recent.transactions} source transactions): p50 ${ms(r.recent.lagP50Ms)}, p95 ${ms(r.recent.lagP95Ms)}, max ${ms(r.recent.lagMaxMs)}`,
    `  batch size   p50 ${r.recent.sizeP50 ?? '-'} changes, max ${r.recent.sizeMax ?? '-'}; rows not staged ${r.recent.rejected}; units rebuilt after a run's publish ${r.recent.reapplied}`,
    `  kept out     now: ${r.keptOut.invalid} row(s) failing validation, ${r.keptOut.quarantined} held with their rejected parent row (ops.stream_rejected)`,
  ];
  if (r.slotState) {
    const s = r.slotState;
    lines.push(
      `  slot         ${s.active ? 'active' : 'inactive'}; retained WAL ${bytes(s.retainedWalBytes)} (restart_lsn ${s.restartLsn ?? '-'}), not yet confirmed ${bytes(s.pendingWalBytes)} (confirmed ${s.confirmedFlushLsn ?? '-'}, source at ${s.currentLsn})`,
    );
  } else if (r.slotError) lines.push(`  slot         ${r.slotError}`);
  else lines.push(`  slot         not read (give --source-db or GUDANG_SOURCE_DB_URL to read the retained WAL from the source)`);
  return lines.join('\n');
}
