import type { PoolClient } from '../../db';
import type { SourceSpec } from '../../sources/types';
import { qualifiedLanding } from '../landing';
import { quoteIdent, stagingSchema, stagingTable } from '../staging';
import type { LoadPlan } from '../plan';

// A period read from a source database replaces that month's rows in staging instead of the whole table: staging
// stays a mirror of every month (what the real-time stream keeps up to date), and the period run reconciles the
// month with the source. What it changed is counted: rows the source has that staging lacked (inserted), rows
// that differed (updated), rows of the month staging had that the source no longer has (deleted): the drift it
// repaired. Runs inside publish's transaction; the landing table (primary key built) is dropped at the end.

export interface MergeCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

/** Keys the real-time stream applied after this instant are left as the stream wrote them (it is newer). */
const TOUCHED = `NOT EXISTS (SELECT 1 FROM ops.stream_touched s WHERE s.dataset = $1 AND s.source = $2 AND s.key = T.%KEY% AND s.applied_at > $3)`;

export async function mergePeriodIntoStaging(client: PoolClient, spec: SourceSpec, plan: LoadPlan, readStartedAt: Date): Promise<MergeCounts> {
  const read = plan.dbRead!;
  const p = read.period!;
  const T = stagingTable(spec);
  const L = qualifiedLanding(plan.landingTable);
  const key = quoteIdent(read.key);
  const cols = Object.keys(spec.columns).map(quoteIdent);
  const inPeriod = p.column
    ? `T.${quoteIdent(p.column)} >= '${p.starts}' AND T.${quoteIdent(p.column)} < '${p.ends}'`
    : `EXISTS (SELECT 1 FROM ${quoteIdent(stagingSchema(spec))}.${quoteIdent(p.via!.table)} P
                WHERE P.${quoteIdent(p.via!.key)} = T.${quoteIdent(p.via!.foreignKey)}
                  AND P.${quoteIdent(p.via!.column)} >= '${p.starts}' AND P.${quoteIdent(p.via!.column)} < '${p.ends}')`;
  // A row whose month comes through its parent (a line through its order) is also left alone when the stream changed
  // the parent after the read: an order the stream moved into or out of the month decides which lines belong to it.
  const parentFresh = p.via
    ? ` AND NOT EXISTS (SELECT 1 FROM ops.stream_touched s WHERE s.dataset = $1 AND s.source = '${p.via.table.replace(/'/g, "''")}' AND s.key = T.${quoteIdent(p.via.foreignKey)} AND s.applied_at > $3)`
    : '';
  const fresh = TOUCHED.replace('%KEY%', key) + parentFresh;
  const args = [plan.dataset, spec.name, readStartedAt];
  const deleted = await client.query(`DELETE FROM ${T} T WHERE ${inPeriod} AND NOT EXISTS (SELECT 1 FROM ${L} L WHERE L.${key} = T.${key}) AND ${fresh}`, args);
  const updated = await client.query(
    `UPDATE ${T} T SET (${cols.join(', ')}) = (${cols.map((c) => `L.${c}`).join(', ')}) FROM ${L} L
      WHERE L.${key} = T.${key} AND (${cols.map((c) => `T.${c}`).join(', ')}) IS DISTINCT FROM (${cols.map((c) => `L.${c}`).join(', ')}) AND ${fresh}`,
    args,
  );
  const inserted = await client.query(
    `INSERT INTO ${T} (${cols.join(', ')}) SELECT ${cols.map((c) => `L.${c}`).join(', ')} FROM ${L} L
      WHERE NOT EXISTS (SELECT 1 FROM ${T} T WHERE T.${key} = L.${key})
        AND NOT EXISTS (SELECT 1 FROM ops.stream_touched s WHERE s.dataset = $1 AND s.source = $2 AND s.key = L.${key} AND s.applied_at > $3)`,
    args,
  );
  await client.query(`DROP TABLE ${L}`);
  return { inserted: inserted.rowCount ?? 0, updated: updated.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
}

/**
 * An incremental read (rows above the source's watermark) adds to staging instead of replacing it: a row staging
 * lacks is inserted, a row it has is updated when it differs. Nothing is deleted (a watermark cannot see deletes;
 * a period run reconciles its month, deletes included). Runs inside publish's transaction; drops the landing table.
 */
export async function mergeNewRowsIntoStaging(client: PoolClient, spec: SourceSpec, plan: LoadPlan, readStartedAt: Date): Promise<{ inserted: number; updated: number }> {
  const read = plan.dbRead!;
  const T = stagingTable(spec);
  const L = qualifiedLanding(plan.landingTable);
  const key = quoteIdent(read.key);
  const cols = Object.keys(spec.columns).map(quoteIdent);
  const fresh = TOUCHED.replace('%KEY%', key);
  const args = [plan.dataset, spec.name, readStartedAt];
  const updated = await client.query(
    `UPDATE ${T} T SET (${cols.join(', ')}) = (${cols.map((c) => `L.${c}`).join(', ')}) FROM ${L} L
      WHERE L.${key} = T.${key} AND (${cols.map((c) => `T.${c}`).join(', ')}) IS DISTINCT FROM (${cols.map((c) => `L.${c}`).join(', ')}) AND ${fresh}`,
    args,
  );
  const inserted = await client.query(
    `INSERT INTO ${T} (${cols.join(', ')}) SELECT ${cols.map((c) => `L.${c}`).join(', ')} FROM ${L} L
      WHERE NOT EXISTS (SELECT 1 FROM ${T} T WHERE T.${key} = L.${key})
        AND NOT EXISTS (SELECT 1 FROM ops.stream_touched s WHERE s.dataset = $1 AND s.source = $2 AND s.key = L.${key} AND s.applied_at > $3)`,
    args,
  );
  await client.query(`DROP TABLE ${L}`);
  return { inserted: inserted.rowCount ?? 0, updated: updated.rowCount ?? 0 };
}
