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
function untouchedSince(alias: string, source: string, keyColumn: string): string {
  return `NOT EXISTS (SELECT 1 FROM ops.stream_touched s WHERE s.dataset = $1 AND s.source = ${source} AND s.key = ${alias}.${keyColumn} AND s.applied_at > $3)`;
}

/** What both merges share: the staging table (T), the landing table (L), the key, the columns and the query's parameters. */
interface MergeTarget {
  client: PoolClient;
  T: string;
  L: string;
  key: string;
  cols: string[];
  args: unknown[];
}

function mergeTarget(client: PoolClient, spec: SourceSpec, plan: LoadPlan, readStartedAt: Date): MergeTarget {
  return {
    client,
    T: stagingTable(spec),
    L: qualifiedLanding(plan.landingTable),
    key: quoteIdent(plan.dbRead!.key),
    cols: Object.keys(spec.columns).map(quoteIdent),
    args: [plan.dataset, spec.name, readStartedAt],
  };
}

/** Updates the staging rows that differ from the landing table's and inserts the ones staging lacks, then drops the landing table. */
async function upsertAndDrop(m: MergeTarget, fresh: string): Promise<{ inserted: number; updated: number }> {
  const { client, T, L, key, cols, args } = m;
  const fromL = cols.map((c) => `L.${c}`).join(', ');
  const updated = await client.query(
    `UPDATE ${T} T SET (${cols.join(', ')}) = (${fromL}) FROM ${L} L
      WHERE L.${key} = T.${key} AND (${cols.map((c) => `T.${c}`).join(', ')}) IS DISTINCT FROM (${fromL}) AND ${fresh}`,
    args,
  );
  const inserted = await client.query(
    `INSERT INTO ${T} (${cols.join(', ')}) SELECT ${fromL} FROM ${L} L
      WHERE NOT EXISTS (SELECT 1 FROM ${T} T WHERE T.${key} = L.${key}) AND ${untouchedSince('L', '$2', key)}`,
    args,
  );
  await client.query(`DROP TABLE ${L}`);
  return { inserted: inserted.rowCount ?? 0, updated: updated.rowCount ?? 0 };
}

export async function mergePeriodIntoStaging(client: PoolClient, spec: SourceSpec, plan: LoadPlan, readStartedAt: Date): Promise<MergeCounts> {
  const p = plan.dbRead!.period!;
  const m = mergeTarget(client, spec, plan, readStartedAt);
  const { T, L, key } = m;
  const inPeriod = p.column
    ? `T.${quoteIdent(p.column)} >= '${p.starts}' AND T.${quoteIdent(p.column)} < '${p.ends}'`
    : `EXISTS (SELECT 1 FROM ${quoteIdent(stagingSchema(spec))}.${quoteIdent(p.via!.table)} P
                WHERE P.${quoteIdent(p.via!.key)} = T.${quoteIdent(p.via!.foreignKey)}
                  AND P.${quoteIdent(p.via!.column)} >= '${p.starts}' AND P.${quoteIdent(p.via!.column)} < '${p.ends}')`;
  // A row whose month comes through its parent (a line through its order) is also left alone when the stream changed
  // the parent after the read: an order the stream moved into or out of the month decides which lines belong to it.
  const parentFresh = p.via ? ` AND ${untouchedSince('T', `'${p.via.table.replace(/'/g, "''")}'`, quoteIdent(p.via.foreignKey))}` : '';
  const fresh = untouchedSince('T', '$2', key) + parentFresh;
  // ... and deleted only when the read saw its parent: the read found the month's rows through the source's parents
  // when it ran, staging's parents are those the parent's read saw earlier. A parent that moved out of the month in
  // between (an order moved to another month while the run read) has rows staging holds and the read does not; they
  // are not gone from the source, and deleting them lost them for good (the stream, held while the run ran, then
  // applies only the parent's change). The cost: a parent whose every child row left the source is not repaired by
  // a period run (a stream applies those deletes; a full run repairs it).
  const readSawParent = p.via ? ` AND EXISTS (SELECT 1 FROM ${L} L WHERE L.${quoteIdent(p.via.foreignKey)} = T.${quoteIdent(p.via.foreignKey)})` : '';
  const deleted = await client.query(`DELETE FROM ${T} T WHERE ${inPeriod} AND NOT EXISTS (SELECT 1 FROM ${L} L WHERE L.${key} = T.${key})${readSawParent} AND ${fresh}`, m.args);
  return { ...(await upsertAndDrop(m, fresh)), deleted: deleted.rowCount ?? 0 };
}

/**
 * An incremental read (rows above the source's watermark) adds to staging instead of replacing it: a row staging
 * lacks is inserted, a row it has is updated when it differs. Nothing is deleted (a watermark cannot see deletes;
 * a period run reconciles its month, deletes included). Runs inside publish's transaction; drops the landing table.
 */
export async function mergeNewRowsIntoStaging(client: PoolClient, spec: SourceSpec, plan: LoadPlan, readStartedAt: Date): Promise<{ inserted: number; updated: number }> {
  const m = mergeTarget(client, spec, plan, readStartedAt);
  return upsertAndDrop(m, untouchedSince('T', '$2', m.key));
}
