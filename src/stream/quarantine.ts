import type pg from 'pg';
import type { RelationSpec } from '../datasets/types';
import { QUARANTINE_KIND, rejectedKeyValues } from '../ingest/relations';
import { quoteIdent, stagingTable } from '../ingest/staging';
import type { SourceSpec } from '../sources/types';
import type { StreamTarget } from './apply';

// The stream's quarantine, so that staging ends as a batch run over the same source rows would leave it (issue 9's
// parent/child rule, src/ingest/relations.ts): a row failing its source's validation is kept out of staging, and so
// is a child of a relation declared onParentRejected: 'quarantine' (an order line) whose parent row (its order) is
// kept out. What is kept out right now is state, in ops.stream_rejected (one entry per primary key, migration 053):
// - an entry goes as soon as its row changes or is deleted in the source (the change decides again);
// - a held child keeps its staged row: when its parent becomes valid again, or is deleted (its children are then
//   orphans, which a batch run loads), the child goes back into staging even if the source never changed it again.
// Driven by the registry: every relation whose child and parent are both streamed sources, parents first.
// Keys are compared as {"column": "value as PostgreSQL text"} of the staging column types.
//
// A pipeline run that publishes decides for the rows it read: after a publish the entries are reconciled with the
// staging tables it left (an entry whose key is now staged goes) and the run's own rejects and quarantined children
// (ops.rejected_rows) become entries, so that a parent rejected by the run and corrected later through the stream
// brings its children back as well.

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** `jsonb_build_object('a', x.a::text, ...)`: the canonical key of `cols`, named `as` (default: the same names). */
export function keyJson(alias: string, cols: readonly string[], as: readonly string[] = cols): string {
  return `jsonb_build_object(${cols.map((c, i) => `${lit(as[i]!)}, ${alias}.${quoteIdent(c)}::text`).join(', ')})`;
}

/** `a.x = b.y AND ...` */
const joinOn = (left: string, leftCols: readonly string[], right: string, rightCols: readonly string[]) =>
  leftCols.map((c, i) => `${left}.${quoteIdent(c)} = ${right}.${quoteIdent(rightCols[i]!)}`).join(' AND ');

/** The row of ops.rejected_rows (alias) is of a load its run published (staging holds what that load kept). */
const PUBLISHED = (alias: string) =>
  `EXISTS (SELECT 1 FROM ops.load_plans p WHERE p.run_id = ${alias}.run_id AND p.source = ${alias}.source AND p.status = 'published')`;

export interface QuarantineRelation {
  relation: RelationSpec;
  child: SourceSpec;
  parent: SourceSpec;
}

/** The quarantine relations among the streamed sources, parents before children (define.ts rules out cycles). */
export function quarantineRelations(t: StreamTarget): QuarantineRelation[] {
  const streamed = new Map(t.sources.map((s) => [s.name, s]));
  const rels = (t.dataset.relations ?? []).filter((r) => r.onParentRejected === 'quarantine' && streamed.has(r.child) && streamed.has(r.parent));
  const depth = (name: string): number => Math.max(0, ...rels.filter((r) => r.child === name).map((r) => 1 + depth(r.parent)));
  return rels
    .map((relation) => ({ relation, child: streamed.get(relation.child)!, parent: streamed.get(relation.parent)! }))
    .sort((a, b) => depth(a.relation.child) - depth(b.relation.child));
}

/** The batch's temporary table of changed keys per source (filled per source; held and restored keys join it). */
export const CHANGED_DDL = `CREATE TEMPORARY TABLE stream_changed (source text, key jsonb, PRIMARY KEY (source, key)) ON COMMIT DROP`;

/**
 * After a source's changes are in staging: its changed keys go to stream_changed, their entries go (the change
 * decides again), and the rows of this batch that fail validation become 'invalid' entries.
 */
export async function recordChanged(
  client: pg.ClientBase,
  dataset: string,
  spec: SourceSpec,
  keys: Record<string, string | null>[],
  rejected: { key: Record<string, string | null>; errors: string[]; row: Record<string, string | null> }[],
): Promise<void> {
  const T = stagingTable(spec);
  await client.query(
    `WITH k AS (SELECT DISTINCT ${keyJson('k', spec.primaryKey)} AS key FROM jsonb_populate_recordset(NULL::${T}, $1::jsonb) k),
     changed AS (INSERT INTO stream_changed (source, key) SELECT $2, key FROM k ON CONFLICT DO NOTHING)
     DELETE FROM ops.stream_rejected r USING k WHERE r.dataset = $3 AND r.source = $2 AND r.key = k.key`,
    [JSON.stringify(keys), spec.name, dataset],
  );
  if (rejected.length === 0) return;
  await client.query(
    `INSERT INTO ops.stream_rejected (dataset, source, key, kind, errors, data)
     SELECT $1, $2, ${keyJson('k', spec.primaryKey)}, 'invalid', ARRAY(SELECT jsonb_array_elements_text(x.errors)), x.data
       FROM jsonb_array_elements($3::jsonb) AS e(v)
      CROSS JOIN LATERAL (SELECT e.v->'errors' AS errors, e.v->'row' AS data) x
      CROSS JOIN LATERAL jsonb_populate_record(NULL::${T}, e.v->'key') k
     ON CONFLICT (dataset, source, key) DO UPDATE SET kind = 'invalid', errors = EXCLUDED.errors, data = EXCLUDED.data, parent = NULL, parent_key = NULL, rejected_at = now()`,
    [dataset, spec.name, JSON.stringify(rejected)],
  );
}

export interface HeldChild {
  source: string;
  key: Record<string, string>;
  parent: string;
  errors: string[];
}

/** Where the held or restored rows go besides staging: the batch's stream_keys (touched keys, affected units). */
function keyOf(spec: SourceSpec, alias: string): string {
  return spec.primaryKey.length === 1 && /^(bigint|integer|smallint)$/i.test(spec.columns[spec.primaryKey[0]!]!.pgType) ? `${alias}.${quoteIdent(spec.primaryKey[0]!)}::bigint` : 'NULL::bigint';
}

/**
 * Puts back the held children of `q` whose parent has no entry any more (valid again, or deleted), limited to the
 * parents changed in this batch unless `all`. A child whose key staging already has (a run loaded it) only loses its
 * entry. Returns how many rows went back.
 */
async function restore(client: pg.ClientBase, dataset: string, unit: string, q: QuarantineRelation, all: boolean): Promise<number> {
  const C = stagingTable(q.child);
  const cols = Object.keys(q.child.columns).map(quoteIdent);
  const pk = q.child.primaryKey;
  // (data-modifying CTEs run to completion whether the final SELECT reads them or not)
  const changedParent = all ? '' : `AND EXISTS (SELECT 1 FROM stream_changed p WHERE p.source = $3 AND p.key = h.parent_key)`;
  const { rows } = await client.query<{ n: number }>(
    `WITH back AS (
       DELETE FROM ops.stream_rejected h
        WHERE h.dataset = $1 AND h.source = $2 AND h.kind = '${QUARANTINE_KIND}' AND h.parent = $3 ${changedParent}
          AND NOT EXISTS (SELECT 1 FROM ops.stream_rejected r WHERE r.dataset = $1 AND r.source = $3 AND r.key = h.parent_key)
       RETURNING h.data
     ), rows AS (
       SELECT x.* FROM back CROSS JOIN LATERAL jsonb_populate_record(NULL::${C}, back.data) x
        WHERE NOT EXISTS (SELECT 1 FROM ${C} s WHERE ${joinOn('s', pk, 'x', pk)})
     ), put AS (
       INSERT INTO ${C} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM rows RETURNING *
     ), keys AS (
       INSERT INTO stream_keys (source, key, unit, newer) SELECT $2, ${keyOf(q.child, 'put')}, put.${quoteIdent(unit)}, true FROM put
     ), changed AS (
       INSERT INTO stream_changed (source, key) SELECT $2, ${keyJson('put', pk)} FROM put ON CONFLICT DO NOTHING
     )
     SELECT count(*)::int AS n FROM put`,
    [dataset, q.child.name, q.parent.name],
  );
  return rows[0]!.n;
}

/**
 * Moves out of staging the children of `q` whose parent has an entry (is kept out): those changed in this batch and
 * those of parents changed in this batch (or every child with a kept-out parent when `all`).
 */
async function hold(client: pg.ClientBase, dataset: string, unit: string, q: QuarantineRelation, all: boolean): Promise<HeldChild[]> {
  const C = stagingTable(q.child);
  const P = stagingTable(q.parent);
  const { columns, parentColumns } = q.relation;
  const pk = q.child.primaryKey;
  const parentKey = keyJson('c', columns, parentColumns);
  const keyText = parentColumns.map((c) => `${lit(`${c}=`)} || (r.key->>${lit(c)})`).join(` || ', ' || `);
  const candidates = all
    ? `SELECT c.ctid AS tid FROM ops.stream_rejected r CROSS JOIN LATERAL jsonb_populate_record(NULL::${P}, r.key) x
         JOIN ${C} c ON ${joinOn('c', columns, 'x', parentColumns)} WHERE r.dataset = $1 AND r.source = $3`
    : `SELECT c.ctid AS tid FROM stream_changed k CROSS JOIN LATERAL jsonb_populate_record(NULL::${C}, k.key) x
         JOIN ${C} c ON ${joinOn('c', pk, 'x', pk)} WHERE k.source = $2
       UNION
       SELECT c.ctid FROM stream_changed k JOIN ops.stream_rejected r ON r.dataset = $1 AND r.source = $3 AND r.key = k.key
         CROSS JOIN LATERAL jsonb_populate_record(NULL::${P}, k.key) x
         JOIN ${C} c ON ${joinOn('c', columns, 'x', parentColumns)} WHERE k.source = $3`;
  const { rows } = await client.query<{ key: Record<string, string>; errors: string[] }>(
    `WITH cand AS (${candidates}),
     held AS (
       SELECT c.ctid AS tid, to_jsonb(c) AS data, ${keyJson('c', pk)} AS key, ${parentKey} AS parent_key, c.${quoteIdent(unit)} AS unit, ${keyOf(q.child, 'c')} AS k,
              ARRAY['its parent row was rejected (' || $3 || ' ' || ${keyText} || ', by the stream): quarantined with it'] AS errors
         FROM (SELECT DISTINCT tid FROM cand) d JOIN ${C} c ON c.ctid = d.tid
         JOIN ops.stream_rejected r ON r.dataset = $1 AND r.source = $3 AND r.key = ${parentKey}
     ), moved AS (
       INSERT INTO ops.stream_rejected (dataset, source, key, kind, errors, data, parent, parent_key)
       SELECT $1, $2, key, '${QUARANTINE_KIND}', errors, data, $3, parent_key FROM held
       ON CONFLICT (dataset, source, key) DO UPDATE SET kind = EXCLUDED.kind, errors = EXCLUDED.errors, data = EXCLUDED.data,
              parent = EXCLUDED.parent, parent_key = EXCLUDED.parent_key, rejected_at = now()
     ), keys AS (
       INSERT INTO stream_keys (source, key, unit, newer) SELECT $2, k, unit, false FROM held
     ), changed AS (
       INSERT INTO stream_changed (source, key) SELECT $2, key FROM held ON CONFLICT DO NOTHING
     ), gone AS (
       DELETE FROM ${C} c USING held h WHERE c.ctid = h.tid
     )
     SELECT key, errors FROM held`,
    [dataset, q.child.name, q.parent.name],
  );
  return rows.map((r) => ({ source: q.child.name, key: r.key, parent: q.parent.name, errors: r.errors }));
}

/** After every source's changes are staged and recorded: the children of kept-out parents out, the others back. */
export async function applyQuarantine(client: pg.ClientBase, t: StreamTarget): Promise<{ held: HeldChild[]; restored: number }> {
  const held: HeldChild[] = [];
  let restored = 0;
  for (const q of quarantineRelations(t)) {
    restored += await restore(client, t.dataset.name, t.stream.unit, q, false);
    held.push(...(await hold(client, t.dataset.name, t.stream.unit, q, false)));
  }
  return { held, restored };
}

/**
 * A pipeline run published new tables since the last batch: `runs` (run ids, in the order they finished) read the
 * source and decided for the rows they read. Entries whose key staging now has go; the runs' rejected rows and
 * quarantined children (ops.rejected_rows) not in staging become entries; held children whose parent has no entry
 * any more go back. `fresh`: the stream starts over from a new slot (its earlier entries say nothing any more).
 */
export async function reconcileAfterPublish(client: pg.ClientBase, t: StreamTarget, runs: string[], fresh: boolean): Promise<{ imported: number; restored: number }> {
  const name = t.dataset.name;
  if (fresh) await client.query(`DELETE FROM ops.stream_rejected WHERE dataset = $1`, [name]);
  let imported = 0;
  let restored = 0;
  const rels = quarantineRelations(t);
  if (runs.length > 0) {
    // the runs' rows rejected for themselves, keyed as read (a key that does not parse names no row)
    for (const spec of t.sources) {
      const T = stagingTable(spec);
      const pk = spec.primaryKey;
      const { rows } = await client.query<{ raw: Record<string, unknown>; errors: string[] }>(
        `SELECT r.raw, r.errors FROM ops.rejected_rows r JOIN unnest($1::text[]) WITH ORDINALITY AS u(run_id, o) USING (run_id)
          WHERE r.source = $2 AND NOT ('${QUARANTINE_KIND}' = ANY(r.kinds)) AND ${PUBLISHED('r')} ORDER BY u.o`,
        [runs, spec.name],
      );
      const entries = rows.flatMap((r) => {
        const values = rejectedKeyValues(spec, pk, r.raw);
        return values ? [{ key: Object.fromEntries(pk.map((c, i) => [c, values[i]!])), errors: r.errors, row: r.raw }] : [];
      });
      if (entries.length === 0) continue;
      const res = await client.query(
        `INSERT INTO ops.stream_rejected (dataset, source, key, kind, errors, data)
         SELECT DISTINCT ON (key) $1, $2, key, 'invalid', errors, data FROM (
           SELECT ${keyJson('k', pk)} AS key, ARRAY(SELECT jsonb_array_elements_text(e.v->'errors')) AS errors, e.v->'row' AS data, e.o
             FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(v, o)
            CROSS JOIN LATERAL jsonb_populate_record(NULL::${T}, e.v->'key') k
            WHERE NOT EXISTS (SELECT 1 FROM ${T} s WHERE ${joinOn('s', pk, 'k', pk)})
         ) x ORDER BY key, o DESC
         ON CONFLICT (dataset, source, key) DO NOTHING`,
        [name, spec.name, JSON.stringify(entries)],
      );
      imported += res.rowCount ?? 0;
    }
    // the runs' children quarantined with a parent that has an entry: held, as staged (their raw is the staged row);
    // parents first, so a quarantined parent is an entry before its own children are looked at
    for (const q of rels) {
      const C = stagingTable(q.child);
      const { columns, parentColumns } = q.relation;
      const res = await client.query(
        `INSERT INTO ops.stream_rejected (dataset, source, key, kind, errors, data, parent, parent_key)
         SELECT DISTINCT ON (key) $1, $3, key, '${QUARANTINE_KIND}', errors, data, $4, parent_key FROM (
           SELECT ${keyJson('x', q.child.primaryKey)} AS key, q.errors, to_jsonb(x) AS data, ${keyJson('x', columns, parentColumns)} AS parent_key, u.o
             FROM ops.rejected_rows q JOIN unnest($2::text[]) WITH ORDINALITY AS u(run_id, o) USING (run_id)
            CROSS JOIN LATERAL jsonb_populate_record(NULL::${C}, q.raw) x
            WHERE q.source = $3 AND '${QUARANTINE_KIND}' = ANY(q.kinds) AND ${PUBLISHED('q')}
              AND NOT EXISTS (SELECT 1 FROM ${C} s WHERE ${joinOn('s', q.child.primaryKey, 'x', q.child.primaryKey)})
         ) y
         WHERE EXISTS (SELECT 1 FROM ops.stream_rejected r WHERE r.dataset = $1 AND r.source = $4 AND r.key = y.parent_key)
         ORDER BY key, o DESC
         ON CONFLICT (dataset, source, key) DO NOTHING`,
        [name, runs, q.child.name, q.parent.name],
      );
      imported += res.rowCount ?? 0;
    }
  }
  // entries whose key a run staged go (the run read it valid, with a valid parent)
  for (const spec of t.sources) {
    const T = stagingTable(spec);
    await client.query(
      `DELETE FROM ops.stream_rejected r USING ${T} s WHERE r.dataset = $1 AND r.source = $2
          AND ${spec.primaryKey.map((c) => `s.${quoteIdent(c)} = (jsonb_populate_record(NULL::${T}, r.key)).${quoteIdent(c)}`).join(' AND ')}`,
      [name, spec.name],
    );
  }
  for (const q of rels) {
    restored += await restore(client, name, t.stream.unit, q, true);
    await hold(client, name, t.stream.unit, q, true);
  }
  return { imported, restored };
}
