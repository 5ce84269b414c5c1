import type pg from 'pg';
import type { DatasetSpec, StreamSpec } from '../datasets/types';
import { InputError } from '../errors';
import { quoteIdent, stagingTable } from '../ingest/staging';
import type { SourceSpec } from '../sources/types';
import { describeRowError, fileColumns, validateRecord } from '../sources/validate';
import { readSqlFile } from '../warehouse/models';
import { formatLsn, parseLsn } from './lsn';
import { CHANGED_DDL, applyQuarantine, quarantineRelations, reconcileAfterPublish, recordChanged } from './quarantine';

// One micro-batch of the stream, applied to the warehouse in ONE transaction:
//   1. the stream's row in ops.streams is locked and its applied_lsn read: source transactions at or below it were
//      applied before (a batch seen again after a crash or a restart) and are skipped, so nothing counts twice;
//   2. the changes of each streamed source are netted per primary key (the last change of a key wins) and
//      written to its staging table (rows that fail the source's validation are left out, as a batch load
//      rejects them); the units (e.g. order ids) of every row before and after the change go to stream_affected;
//   3. the dataset's apply SQL rebuilds those units' fact rows and moves the marts by the difference;
//   4. ops.stream_touched, ops.stream_batches and ops.streams (applied_lsn = the last source commit applied) are
//      written; COMMIT. Only after that may the caller acknowledge the position to the source's slot.
// While a pipeline run of the dataset is in progress the stream holds its batches (see below).
// When a pipeline run has published new tables since the last batch (their oids changed), the indexes the stream
// needs are made again and the units the stream touched since that run started are rebuilt too: the run built its
// tables from what it read when it started, so changes the stream applied meanwhile would otherwise be lost.

export type ChangeKind = 'insert' | 'update' | 'delete';

export interface RowChange {
  source: string;
  kind: ChangeKind;
  /** upsert: the row after the change (every column, text as PostgreSQL prints it); delete: the old key's columns. */
  op: 'upsert' | 'delete';
  row: Record<string, string | null>;
}

export interface SourceTxn {
  /** End of the source transaction's commit record. */
  endLsn: bigint;
  /** Source commit time, microseconds since the Unix epoch. */
  commitTimeUs: bigint;
  changes: RowChange[];
}

export interface StreamTarget {
  dataset: DatasetSpec;
  stream: StreamSpec;
  sources: SourceSpec[];
  applySql: string;
}

export interface BatchResult {
  batchId: number;
  transactions: number;
  skippedTransactions: number;
  changes: number;
  unitsAffected: number;
  reapplied: number;
  rejected: number;
  appliedLsn: string;
  lagMs: number;
  applyMs: number;
}

export async function streamTarget(dataset: DatasetSpec): Promise<StreamTarget> {
  const stream = dataset.stream;
  if (!stream) throw new InputError('ConfigError', `dataset ${dataset.name} declares no stream (its registry entry has no \`stream\` field)`);
  const sources = stream.sources.map((name) => {
    const spec = dataset.sources.find((s) => s.name === name);
    if (!spec) throw new InputError('ConfigError', `dataset ${dataset.name}: the stream names source ${name}, which the dataset does not have`);
    if (!Object.hasOwn(spec.columns, stream.unit)) throw new InputError('ConfigError', `dataset ${dataset.name}: streamed source ${name} has no unit column ${stream.unit}`);
    return spec;
  });
  return { dataset, stream, sources, applySql: await readSqlFile(stream.apply) };
}

/** Tables whose identity tells that a run published new ones: every model table, and the streamed staging tables. */
function watchedTables(t: StreamTarget): string[] {
  return [...t.sources.map((s) => stagingTable(s).replace(/"/g, '')), ...t.dataset.layers.flatMap((l) => l.models.map((m) => m.table))];
}

const singleIntKey = (spec: SourceSpec) => spec.primaryKey.length === 1 && /^(bigint|integer|smallint)$/i.test(spec.columns[spec.primaryKey[0]!]!.pgType);

interface Netted {
  keys: Record<string, string | null>[];
  rows: Record<string, string | null>[];
  counts: Record<ChangeKind, number>;
  rejected: { key: Record<string, string | null>; errors: string[]; row: Record<string, string | null> }[];
}

/** The changes of one source, netted per key (the last change wins); invalid rows become deletions of their key. */
function net(spec: SourceSpec, txns: SourceTxn[]): Netted {
  const final = new Map<string, RowChange>();
  const counts: Record<ChangeKind, number> = { insert: 0, update: 0, delete: 0 };
  for (const t of txns) {
    for (const c of t.changes) {
      if (c.source !== spec.name) continue;
      if (c.op === 'upsert') counts[c.kind]++;
      else if (c.kind === 'delete') counts.delete++;
      final.set(JSON.stringify(spec.primaryKey.map((k) => c.row[k] ?? null)), c);
    }
  }
  const out: Netted = { keys: [], rows: [], counts, rejected: [] };
  for (const c of final.values()) {
    const key = Object.fromEntries(spec.primaryKey.map((k) => [k, c.row[k] ?? null]));
    out.keys.push(key);
    if (c.op !== 'upsert') continue;
    const values: Record<string, unknown> = {};
    for (const { name, header } of fileColumns(spec)) values[header] = c.row[name] ?? null;
    const checked = validateRecord(spec, { row: 0, values });
    const refined = checked.ok && spec.refine ? spec.refine(checked.row) : [];
    if (!checked.ok || refined.length > 0) {
      const errors = checked.ok ? refined.map((e) => `column ${e.column}: ${e.message}`) : checked.errors.map(describeRowError);
      out.rejected.push({ key, errors, row: c.row });
      continue;
    }
    out.rows.push(Object.fromEntries(Object.keys(spec.columns).map((k) => [k, c.row[k] ?? null])));
  }
  return out;
}

/** Rows of ops.stream_touched younger than this are always kept (a run's row can appear a little after its start). */
const TOUCHED_MARGIN = '1 hour';
/** A run unfinished this long after its start is taken for dead (the stream stops holding for one after 6 hours). */
const RUN_DEAD_AFTER = '24 hours';
/** At most this many old rows go per batch: a cheap bounded DELETE, yet far more than a batch adds. */
const PRUNE_PER_BATCH = 20_000;

/**
 * Deletes the rows of ops.stream_touched no run can need any more. They are read for two things:
 * - the period merge (src/ingest/db/merge.ts) of a run in progress: keys touched after its read started;
 * - the rebuild after a publish (above), for a run that finished since the stream's last batch: units touched since
 *   it started.
 * Runs that start later need only rows written after their start. So a row may go when it is older than the start
 * of every run of the dataset not finished (unless taken for dead) or finished since `lastBatchAt`, and older than
 * TOUCHED_MARGIN.
 */
async function pruneTouched(client: pg.ClientBase, dataset: string, lastBatchAt: Date): Promise<number> {
  const res = await client.query(
    `DELETE FROM ops.stream_touched t USING (
       SELECT source, key FROM ops.stream_touched
        WHERE dataset = $1
          AND applied_at < least(now() - $3::interval,
                (SELECT min(started_at) FROM ops.pipeline_runs
                  WHERE dataset = $1 AND ((finished_at IS NULL AND started_at > now() - $4::interval) OR finished_at >= $2)))
        LIMIT ${PRUNE_PER_BATCH}) old
     WHERE t.dataset = $1 AND t.source = old.source AND t.key = old.key`,
    [dataset, lastBatchAt, TOUCHED_MARGIN, RUN_DEAD_AFTER],
  );
  return res.rowCount ?? 0;
}

/**
 * Applies the transactions (in commit order) in one warehouse transaction. Returns null when every one of them was
 * applied before (nothing written). `retainedWalBytes` is the slot's retained WAL as last measured.
 */
export async function applyBatch(
  client: pg.ClientBase,
  t: StreamTarget,
  txns: SourceTxn[],
  opts: { receivedAt: Date; retainedWalBytes: number | null; log?: (line: string) => void },
): Promise<BatchResult | { skipped: number; appliedLsn: string | null } | { held: string }> {
  const started = Date.now();
  const name = t.dataset.name;
  await client.query('BEGIN');
  try {
    const { rows: streamRows } = await client.query<{ applied_lsn: string | null; tables_version: string | null; updated_at: Date; applied_at: Date | null }>(
      `SELECT applied_lsn, tables_version, updated_at, applied_at FROM ops.streams WHERE dataset = $1 FOR UPDATE`,
      [name],
    );
    const state = streamRows[0];
    if (!state) throw new Error(`ops.streams has no row for dataset ${name}: the stream was not prepared`);
    // A pipeline run of the dataset in progress reads staging and builds and checks tables from it: the stream holds
    // its batches (they stay unconfirmed in the slot) until that run has published or failed, then goes on.
    const { rows: running } = await client.query<{ workflow_id: string }>(
      `SELECT workflow_id FROM ops.pipeline_runs WHERE dataset = $1 AND status = 'running' AND started_at > now() - interval '6 hours' ORDER BY started_at LIMIT 1`,
      [name],
    );
    if (running[0]) {
      await client.query('ROLLBACK');
      return { held: running[0].workflow_id };
    }
    const applied = state.applied_lsn ? parseLsn(state.applied_lsn) : -1n;
    const fresh = txns.filter((x) => x.endLsn > applied);
    const skipped = txns.length - fresh.length;
    // a run published new tables since the last batch: indexes again, and the units touched since it started
    const version = (
      await client.query<{ v: string }>(
        `SELECT string_agg(coalesce(to_regclass(t)::oid::text, '-'), ',' ORDER BY o) AS v FROM unnest($1::text[]) WITH ORDINALITY AS u(t, o)`,
        [watchedTables(t)],
      )
    ).rows[0]!.v;
    if (fresh.length === 0 && version === state.tables_version) {
      await client.query('ROLLBACK');
      return { skipped, appliedLsn: state.applied_lsn };
    }

    const unitType = t.sources[0]!.columns[t.stream.unit]!.pgType;
    const unit = quoteIdent(t.stream.unit);
    await client.query(`CREATE TEMPORARY TABLE stream_affected (${unit} ${unitType} PRIMARY KEY) ON COMMIT DROP`);
    await client.query(`CREATE TEMPORARY TABLE stream_keys (source text, key bigint, unit ${unitType}, newer boolean) ON COMMIT DROP`);
    await client.query(CHANGED_DDL);
    let reapplied = 0;
    if (version !== state.tables_version) {
      for (const spec of t.sources) {
        if (spec.primaryKey[0] === t.stream.unit) continue;
        await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${spec.name}_${t.stream.unit}_stream_idx`)} ON ${stagingTable(spec)} (${unit})`);
      }
      for (const table of t.stream.indexed ?? []) {
        const [schema, rel] = table.split('.') as [string, string];
        await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${rel}_${t.stream.unit}_stream_idx`)} ON ${quoteIdent(schema)}.${quoteIdent(rel)} (${unit})`);
      }
      // the quarantine finds a kept-out parent's children by the relation's columns
      for (const { relation, child } of quarantineRelations(t)) {
        if (relation.columns.join() === t.stream.unit || relation.columns.join() === child.primaryKey.join()) continue;
        await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${child.name}_${relation.columns.join('_')}_stream_idx`)} ON ${stagingTable(child)} (${relation.columns.map(quoteIdent).join(', ')})`);
      }
      if (state.tables_version !== null) {
        const res = await client.query(
          `INSERT INTO stream_affected (${unit})
           SELECT DISTINCT unit FROM ops.stream_touched
            WHERE dataset = $1 AND unit IS NOT NULL
              AND applied_at >= coalesce((SELECT min(started_at) FROM ops.pipeline_runs WHERE dataset = $1 AND (finished_at IS NULL OR finished_at >= $2)), '-infinity')
           ON CONFLICT DO NOTHING`,
          [name, state.updated_at],
        );
        reapplied = res.rowCount ?? 0;
        if (reapplied > 0) opts.log?.(`stream ${name}: a run published new tables; rebuilding the ${reapplied} unit(s) the stream changed since that run started`);
      }
      // the runs that published since the last batch (since the stream was prepared, on a new slot) decided which rows
      // they kept out: the stream's quarantine takes that over
      const fresh = state.tables_version === null;
      const { rows: published } = await client.query<{ run_id: string }>(
        `SELECT r.run_id FROM ops.pipeline_runs r
          WHERE r.dataset = $1 AND (r.finished_at IS NULL OR r.finished_at >= $2)
            AND EXISTS (SELECT 1 FROM ops.load_plans p WHERE p.run_id = r.run_id AND p.status = 'published')
          ORDER BY coalesce(r.finished_at, 'infinity'), r.started_at`,
        [name, fresh ? state.updated_at : (state.applied_at ?? state.updated_at)],
      );
      const r = await reconcileAfterPublish(client, t, published.map((x) => x.run_id), fresh);
      if (r.imported + r.restored > 0) opts.log?.(`stream ${name}: after a publish, ${r.imported} row(s) kept out as the run(s) decided, ${r.restored} put back`);
    }

    const rowsByTable: Record<string, Record<string, number>> = {};
    const rejected: { source: string; key: Record<string, string | null>; errors: string[]; parent?: string }[] = [];
    let changes = 0;
    for (const spec of t.sources) {
      const n = net(spec, fresh);
      rowsByTable[spec.name] = { ...n.counts, rejected: n.rejected.length };
      changes += n.counts.insert + n.counts.update + n.counts.delete;
      for (const r of n.rejected) rejected.push({ source: spec.name, key: r.key, errors: r.errors });
      if (n.keys.length === 0) continue;
      const T = stagingTable(spec);
      const cols = Object.keys(spec.columns).map(quoteIdent);
      const match = spec.primaryKey.map((k) => `s.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ');
      const keyCol = singleIntKey(spec) ? `s.${quoteIdent(spec.primaryKey[0]!)}` : 'NULL::bigint';
      const newKeyCol = singleIntKey(spec) ? `r.${quoteIdent(spec.primaryKey[0]!)}` : 'NULL::bigint';
      const keys = JSON.stringify(n.keys);
      const rows = JSON.stringify(n.rows);
      await client.query(
        `INSERT INTO stream_keys (source, key, unit, newer)
         SELECT $2, ${keyCol}, s.${unit}, false FROM ${T} s JOIN jsonb_populate_recordset(NULL::${T}, $1::jsonb) k ON ${match}`,
        [keys, spec.name],
      );
      await client.query(`DELETE FROM ${T} s USING jsonb_populate_recordset(NULL::${T}, $1::jsonb) k WHERE ${match}`, [keys]);
      if (n.rows.length > 0) {
        await client.query(`INSERT INTO ${T} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM jsonb_populate_recordset(NULL::${T}, $1::jsonb)`, [rows]);
        await client.query(
          `INSERT INTO stream_keys (source, key, unit, newer) SELECT $2, ${newKeyCol}, r.${unit}, true FROM jsonb_populate_recordset(NULL::${T}, $1::jsonb) r`,
          [rows, spec.name],
        );
      }
      await recordChanged(client, name, spec, n.keys, n.rejected);
      if (!singleIntKey(spec)) continue;
      // deleted rows that staging never had (e.g. rejected before) still count as touched, with no unit
      await client.query(
        `INSERT INTO stream_keys (source, key, unit, newer)
         SELECT $2, k.${quoteIdent(spec.primaryKey[0]!)}, NULL, false FROM jsonb_populate_recordset(NULL::${T}, $1::jsonb) k`,
        [keys, spec.name],
      );
    }
    // children of kept-out parents out of staging, children of parents valid again (or deleted) back in
    const quarantine = await applyQuarantine(client, t);
    for (const h of quarantine.held) {
      rejected.push(h);
      const counts = (rowsByTable[h.source] ??= { insert: 0, update: 0, delete: 0, rejected: 0 });
      counts.quarantined = (counts.quarantined ?? 0) + 1;
    }
    if (quarantine.restored > 0) opts.log?.(`stream ${name}: ${quarantine.restored} row(s) put back into staging: their parent row is valid again or gone`);
    await client.query(`INSERT INTO stream_affected (${unit}) SELECT DISTINCT unit FROM stream_keys WHERE unit IS NOT NULL ON CONFLICT DO NOTHING`);
    await client.query(
      `INSERT INTO ops.stream_touched (dataset, source, key, unit, applied_at)
       SELECT DISTINCT ON (source, key) $1, source, key, unit, clock_timestamp() FROM stream_keys WHERE key IS NOT NULL
        ORDER BY source, key, newer DESC, unit IS NULL
       ON CONFLICT (dataset, source, key) DO UPDATE SET unit = coalesce(EXCLUDED.unit, ops.stream_touched.unit), applied_at = EXCLUDED.applied_at`,
      [name],
    );
    await pruneTouched(client, name, state.applied_at && state.applied_at < state.updated_at ? state.applied_at : state.updated_at);
    const unitsAffected = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM stream_affected`)).rows[0]!.n;
    if (unitsAffected > 0) await client.query(t.applySql);

    // a batch with no source transaction only rebuilt units after a publish: it keeps the applied position
    const appliedLsn = fresh.length > 0 ? formatLsn(fresh[fresh.length - 1]!.endLsn) : (state.applied_lsn ?? '0/0');
    const commitTimes = fresh.map((x) => Number(x.commitTimeUs) / 1000);
    const firstCommit = commitTimes.length > 0 ? Math.min(...commitTimes) : Date.now();
    const lastCommit = commitTimes.length > 0 ? Math.max(...commitTimes) : firstCommit;
    const { rows: batch } = await client.query<{ batch_id: string; lag_ms: number }>(
      `INSERT INTO ops.stream_batches (dataset, first_lsn, last_lsn, transactions, changes, rows_by_table, orders_affected, first_commit_at,
                                       last_commit_at, received_at, lag_ms, apply_ms, retained_wal_bytes, lags_ms, rejected, reapplied)
       SELECT $1, $2, $3, $4, $5, $6::jsonb, $7, to_timestamp($8::float8 / 1000), to_timestamp($9::float8 / 1000), $10,
              extract(epoch FROM clock_timestamp()) * 1000 - $8::float8, $11, $12,
              ARRAY(SELECT (extract(epoch FROM clock_timestamp()) * 1000 - c)::real FROM unnest($13::float8[]) AS c), $14::jsonb, $15
       RETURNING batch_id, lag_ms`,
      [
        name,
        fresh.length > 0 ? formatLsn(fresh[0]!.endLsn) : appliedLsn,
        appliedLsn,
        fresh.length,
        changes,
        JSON.stringify(rowsByTable),
        unitsAffected,
        firstCommit,
        lastCommit,
        opts.receivedAt,
        Date.now() - started,
        opts.retainedWalBytes,
        commitTimes,
        rejected.length > 0 ? JSON.stringify(rejected.slice(0, 20)) : null,
        reapplied,
      ],
    );
    await client.query(
      `UPDATE ops.streams SET applied_lsn = $2, applied_at = clock_timestamp(), batches = batches + 1, changes = changes + $3,
              last_lag_ms = $4, retained_wal_bytes = coalesce($5, retained_wal_bytes), tables_version = $6, status = 'running',
              updated_at = clock_timestamp()
        WHERE dataset = $1`,
      [name, appliedLsn, changes, batch[0]!.lag_ms, opts.retainedWalBytes, version],
    );
    await client.query('COMMIT');
    for (const r of rejected.slice(0, 5)) {
      const key = Object.entries(r.key).map(([k, v]) => `${k}=${v}`).join(', ');
      opts.log?.(`stream ${name}: table ${r.source} row ${key} not staged: ${r.errors.join('; ')}`);
    }
    return {
      batchId: Number(batch[0]!.batch_id),
      transactions: fresh.length,
      skippedTransactions: skipped,
      changes,
      unitsAffected,
      reapplied,
      rejected: rejected.length,
      appliedLsn,
      lagMs: batch[0]!.lag_ms,
      applyMs: Date.now() - started,
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
