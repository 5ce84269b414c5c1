import type { DatasetSpec, RelationSpec } from '../datasets/types';
import type { PoolClient } from '../db';
import type { SourceSpec } from '../sources/types';
import { formatTimestamp } from './copy';
import { formatDate } from './encode';
import { qualifiedLanding, rawWithoutRowKeys } from './landing';
import type { LoadPlan } from './plan';
import { quoteIdent, stagingTable } from './staging';

// Parents and children stay consistent. When a child source is published (after its parents, in the same run; the
// pipeline workflow orders the publishes by the dataset's relations):
// - a child row whose parent row was rejected in this run is quarantined with it (moved to ops.rejected_rows with a
//   reason naming the parent's file, row and key), for relations declared onParentRejected: 'quarantine';
// - child rows whose parent is missing for any other reason are orphans: counted per relation and listed per
//   missing key in ops.orphans. They load (the models map them to the unknown member).

/** The kind of a quarantined child row in ops.rejected_rows: not counted against the reject budget. */
export const QUARANTINE_KIND = 'parent row rejected';

/** SQL condition on ops.rejected_rows (alias r): the row was rejected for itself, not quarantined with its parent. */
export const REJECTED_FOR_ITSELF = `NOT ('${QUARANTINE_KIND}' = ANY(r.kinds))`;

/** A relation of a child source with its parent's spec. */
export interface ActiveRelation {
  relation: RelationSpec;
  parent: SourceSpec;
}

export interface OrphanCount {
  columns: string[];
  parent: string;
  /** Child rows whose parent key is missing. */
  rows: number;
  /** Distinct missing parent keys. */
  keys: number;
}

/** The relations in which `source` is the child, each with its parent's spec. */
export function relationsOf(dataset: Pick<DatasetSpec, 'sources' | 'relations'>, source: string): ActiveRelation[] {
  return (dataset.relations ?? [])
    .filter((r) => r.child === source)
    .map((relation) => ({ relation, parent: dataset.sources.find((s) => s.name === relation.parent)! }));
}

/** Relations whose parent was published in this run (others are not checked: their parent is not this run's). */
async function checkable(db: PoolClient, runId: string, relations: readonly ActiveRelation[]): Promise<ActiveRelation[]> {
  if (relations.length === 0) return [];
  const { rows } = await db.query<{ source: string }>(`SELECT source FROM ops.load_plans WHERE run_id = $1 AND source = ANY($2::text[]) AND status = 'published'`, [
    runId,
    relations.map((r) => r.parent.name),
  ]);
  const published = new Set(rows.map((r) => r.source));
  return relations.filter((r) => published.has(r.parent.name));
}

/** A key value as PostgreSQL text input for its column type. */
function keyText(value: unknown, kind: string | undefined): string {
  if (value instanceof Date) return kind === 'date' ? formatDate(value) : formatTimestamp(value);
  return String(value);
}

/**
 * The values of `cols` (the parent's key) in a row of ops.rejected_rows, as PostgreSQL text input; undefined when one
 * is missing or does not parse (no child can be named by it). Rows rejected while reading keep the file's column
 * names; duplicates and quarantined rows the staging names.
 */
export function rejectedKeyValues(spec: SourceSpec, cols: readonly string[], raw: Record<string, unknown>): string[] | undefined {
  const values: string[] = [];
  for (const c of cols) {
    const column = spec.columns[c]!;
    const value = Object.hasOwn(raw, column.header ?? c) ? raw[column.header ?? c] : raw[c];
    const parsed = column.schema.safeParse(value);
    if (!parsed.success || parsed.data === null || parsed.data === undefined) return undefined;
    values.push(keyText(parsed.data, column.kind));
  }
  return values;
}

/** `l.a = p.x AND l.b = p.y` */
function joinOn(left: string, leftCols: readonly string[], right: string, rightCols: readonly string[]): string {
  return leftCols.map((c, i) => `${left}.${quoteIdent(c)} = ${right}.${quoteIdent(rightCols[i]!)}`).join(' AND ');
}

const textOf = (alias: string, cols: readonly string[]) => cols.map((c) => `${alias}.${quoteIdent(c)}::text`).join(` || ', ' || `);

/**
 * Fills the temporary table gudang_parent_rejects(k0.., parent_row, parent_file, key_text) with the keys of the parent
 * rows rejected in this run whose key is not in the parent's staging table (a rejected duplicate leaves the first
 * occurrence there: its children keep their parent). Returns how many there are.
 */
async function rejectedParents(db: PoolClient, runId: string, active: ActiveRelation): Promise<number> {
  const { relation, parent } = active;
  const cols = relation.parentColumns;
  await db.query(`DROP TABLE IF EXISTS pg_temp.gudang_parent_rejects`);
  await db.query(
    `CREATE TEMP TABLE gudang_parent_rejects (${cols.map((c, i) => `k${i} ${parent.columns[c]!.pgType}`).join(', ')}, parent_row bigint, parent_file text, key_text text, parent_line bigint)`,
  );
  const { rows } = await db.query<{ row_number: string | null; line_number: string | null; file: string; raw: Record<string, unknown> }>(
    `SELECT row_number, line_number, file, raw FROM ops.rejected_rows WHERE run_id = $1 AND source = $2`,
    [runId, parent.name],
  );
  const keys: string[][] = cols.map(() => []);
  const rowNumbers: (string | null)[] = [];
  const lineNumbers: (string | null)[] = [];
  const files: string[] = [];
  const texts: string[] = [];
  for (const r of rows) {
    const values = rejectedKeyValues(parent, cols, r.raw);
    if (!values) continue;
    values.forEach((v, i) => keys[i]!.push(v));
    rowNumbers.push(r.row_number);
    files.push(r.file);
    lineNumbers.push(r.line_number);
    texts.push(cols.map((c, i) => `${c}=${values[i]}`).join(', '));
  }
  if (texts.length === 0) return 0;
  await db.query(
    `INSERT INTO gudang_parent_rejects SELECT ${cols.map((c, i) => `k${i}::${parent.columns[c]!.pgType}`).join(', ')}, parent_row, parent_file, key_text, parent_line
       FROM unnest(${cols.map((_c, i) => `$${i + 1}::text[]`).join(', ')}, $${cols.length + 1}::bigint[], $${cols.length + 2}::text[], $${cols.length + 3}::text[], $${cols.length + 4}::bigint[])
         AS t(${cols.map((_c, i) => `k${i}`).join(', ')}, parent_row, parent_file, key_text, parent_line)`,
    [...keys, rowNumbers, files, texts, lineNumbers],
  );
  const kcols = cols.map((_c, i) => `k${i}`);
  await db.query(`DELETE FROM gudang_parent_rejects AS t USING ${stagingTable(parent)} AS p WHERE ${joinOn('t', kcols, 'p', cols)}`);
  const { rows: left } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM gudang_parent_rejects`);
  return left[0]!.n;
}

/**
 * Child rows of the landing table whose parent row was rejected in this run. In 'plain' mode (rows without their row
 * numbers) it only counts them: the caller loads again with row keys. In 'rowkeys' mode it moves them to
 * ops.rejected_rows, each with its own row and line and naming its parent's file, row, line and key. `offsets` and
 * `lineOffsets` are the rows and the lines before each chunk (its first row and line numbers minus one).
 */
export async function quarantineChildren(
  db: PoolClient,
  spec: SourceSpec,
  plan: LoadPlan,
  relations: readonly ActiveRelation[],
  offsets: Map<number, number>,
  lineOffsets: Map<number, number>,
): Promise<number> {
  const landing = qualifiedLanding(plan.landingTable);
  let total = 0;
  for (const active of await checkable(db, plan.runId, relations.filter((r) => r.relation.onParentRejected === 'quarantine'))) {
    if ((await rejectedParents(db, plan.runId, active)) === 0) continue;
    const kcols = active.relation.parentColumns.map((_c, i) => `k${i}`);
    const on = joinOn('l', active.relation.columns, 't', kcols);
    if (plan.mode === 'plain') {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${landing} AS l WHERE EXISTS (SELECT 1 FROM gudang_parent_rejects t WHERE ${on})`);
      total += rows[0]!.n;
      continue;
    }
    const moved = await db.query(
      `WITH matched AS (
         SELECT DISTINCT ON (l.ctid) l.ctid AS tid, l._chunk AS chunk, l._row AS chunk_row, o.off + l._row AS row_number,
                l._line AS chunk_line, o.line_off + l._line AS line_number,
                ${rawWithoutRowKeys('l')} AS raw, t.parent_file, t.parent_row, t.parent_line, t.key_text
           FROM ${landing} AS l
           JOIN gudang_parent_rejects AS t ON ${on}
           JOIN unnest($4::int[], $5::bigint[], $7::bigint[]) AS o(chunk, off, line_off) ON o.chunk = l._chunk
          ORDER BY l.ctid, t.parent_row
       ), moved AS (
         INSERT INTO ops.rejected_rows (run_id, source, file, chunk, chunk_row, chunk_line, row_number, line_number, raw, errors, kinds)
         SELECT $1, $2, $3, chunk, chunk_row, chunk_line, row_number, line_number, raw,
                ARRAY['its parent row was rejected (' || $6 || ' ' || parent_file || coalesce(' row ' || parent_row, '') || coalesce(' line ' || parent_line, '') || ', ' || key_text || '): quarantined with it'],
                ARRAY['${QUARANTINE_KIND}']
           FROM matched
         ON CONFLICT DO NOTHING
       )
       DELETE FROM ${landing} AS l USING matched AS m WHERE l.ctid = m.tid`,
      [plan.runId, plan.source, plan.file, [...offsets.keys()], [...offsets.values()], active.parent.name, [...offsets.keys()].map((c) => lineOffsets.get(c) ?? 0)],
    );
    total += moved.rowCount ?? 0;
  }
  await db.query(`DROP TABLE IF EXISTS pg_temp.gudang_parent_rejects`);
  return total;
}

export interface OrphanKey {
  columns: string[];
  parent: string;
  parentKey: string;
  rows: number;
  childKeys: string[];
}

/** At most this many missing keys per relation are listed in ops.orphans (the counts cover all of them). */
const MAX_ORPHAN_KEYS = 10_000;

/** Child rows in the landing table whose parent key is in no row of the parent's staging table (NULL keys are no reference). */
export async function findOrphans(
  db: PoolClient,
  spec: SourceSpec,
  plan: LoadPlan,
  relations: readonly ActiveRelation[],
): Promise<{ counts: OrphanCount[]; keys: OrphanKey[] }> {
  const landing = qualifiedLanding(plan.landingTable);
  const counts: OrphanCount[] = [];
  const keys: OrphanKey[] = [];
  for (const { relation, parent } of await checkable(db, plan.runId, relations)) {
    const cols = relation.columns;
    const { rows } = await db.query<{ parent_key: string; rows: string; child_keys: string[]; total_rows: string; total_keys: string }>(
      `SELECT parent_key, rows, child_keys, sum(rows) OVER () AS total_rows, count(*) OVER () AS total_keys
         FROM (SELECT ${textOf('l', cols)} AS parent_key, count(*) AS rows,
                      (array_agg(${textOf('l', spec.primaryKey)} ORDER BY ${spec.primaryKey.map((c) => `l.${quoteIdent(c)}`).join(', ')}))[1:10] AS child_keys
                 FROM ${landing} AS l
                WHERE ${cols.map((c) => `l.${quoteIdent(c)} IS NOT NULL`).join(' AND ')}
                  AND NOT EXISTS (SELECT 1 FROM ${stagingTable(parent)} AS p WHERE ${joinOn('l', cols, 'p', relation.parentColumns)})
                GROUP BY ${cols.map((c) => `l.${quoteIdent(c)}`).join(', ')}) AS g
        ORDER BY rows DESC, parent_key
        LIMIT ${MAX_ORPHAN_KEYS}`,
    );
    if (rows.length === 0) continue;
    counts.push({ columns: cols, parent: parent.name, rows: Number(rows[0]!.total_rows), keys: Number(rows[0]!.total_keys) });
    for (const r of rows) keys.push({ columns: cols, parent: parent.name, parentKey: r.parent_key, rows: Number(r.rows), childKeys: r.child_keys });
  }
  return { counts, keys };
}

/** Records a published load's orphan keys (in the publish transaction). */
export async function recordOrphans(db: PoolClient, plan: LoadPlan, keys: readonly OrphanKey[]): Promise<void> {
  await db.query(`DELETE FROM ops.orphans WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
  if (keys.length === 0) return;
  await db.query(
    `INSERT INTO ops.orphans (run_id, dataset, source, columns, parent, parent_key, rows, child_keys)
     SELECT $1, $2, $3, string_to_array(c, ','), p, k, n, string_to_array(ck, chr(31))
       FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[]) AS t(c, p, k, n, ck)`,
    [
      plan.runId,
      plan.dataset,
      plan.source,
      keys.map((k) => k.columns.join(',')),
      keys.map((k) => k.parent),
      keys.map((k) => k.parentKey),
      keys.map((k) => k.rows),
      keys.map((k) => k.childKeys.join('\u001f')),
    ],
  );
}
