import type pg from 'pg';
import type { ModelTest } from './annotations';
import { enforcedBy } from './scan';
import { assertIdentifier } from './sql-text';

// unique(col) on a month-partitioned table (partition.ts), without hashing every key (issue 14: the gates at most
// 15 % of the transform; the hash of the fact's 1M order_detail_ids took 0.2 to 0.5 s of the facts gate).
//
// A partitioned table has no index of its own on the key (it would have to include the partition column), but each
// partition has its primary key on it. When every partition has a unique index on the column and the column is
// NOT NULL in every partition, two rows can share a value only from two different partitions, and that value then
// lies in both partitions' [min, max] key ranges. So the duplicates are all inside the ranges where two partitions'
// ranges overlap: the check reads each partition's min and max (two index probes) and runs the same GROUP BY only
// over the keys in those overlaps. When no two ranges overlap (order lines numbered in date order), no row can be
// a duplicate and nothing more is read. The failures and samples are those of the check over the whole table: every
// copy of a duplicated value is in the overlap that holds the value.

/** More overlaps than this: the check runs over the whole table (an OR of many ranges would cost more). */
const MAX_RANGES = 64;

export interface KeyRanges {
  /** Inclusive [lo, hi] key ranges, as text, in which duplicates can be; empty: there can be none. */
  ranges: { lo: string; hi: string }[];
  /** e.g. "unique index on each of 25 partitions", for the result. */
  reason: string;
}

/**
 * The key ranges a unique(col) check of partitioned `table` has to look at, or undefined when the reasoning above
 * does not apply (not partitioned, several columns, a row filter, a partition without a unique index or with NULLs
 * allowed, a sub-partitioned partition, too many overlaps): then the check runs over the whole table.
 */
export async function uniqueKeyRanges(client: pg.ClientBase, table: string, test: ModelTest): Promise<KeyRanges | undefined> {
  if (test.kind !== 'unique' || test.where || test.columns.length !== 1) return undefined;
  const column = assertIdentifier(test.columns[0]!, `test column of ${table}`);
  const { rows: parts } = await client.query<{ name: string; kind: string; parent_kind: string }>(
    `SELECT c.oid::regclass::text AS name, c.relkind::text AS kind, p.relkind::text AS parent_kind
       FROM pg_class AS p JOIN pg_inherits AS i ON i.inhparent = p.oid JOIN pg_class AS c ON c.oid = i.inhrelid
      WHERE p.oid = $1::regclass ORDER BY c.oid`,
    [table],
  );
  if (parts.length === 0 || parts.some((p) => p.parent_kind !== 'p' || p.kind !== 'r')) return undefined;
  for (const part of parts) {
    if (!(await enforcedBy(client, part.name, { ...test, kind: 'not_null' }))) return undefined;
    if (!(await enforcedBy(client, part.name, test))) return undefined;
  }
  const bounds = parts
    .map((p, i) => `SELECT ${i} AS i, min(${column}) AS lo, max(${column}) AS hi FROM ONLY ${assertIdentifier(p.name, 'partition')}`)
    .join('\n    UNION ALL ');
  const { rows } = await client.query<{ lo: string; hi: string }>(
    `WITH b AS MATERIALIZED (${bounds})
     SELECT greatest(x.lo, y.lo)::text AS lo, least(x.hi, y.hi)::text AS hi
       FROM b AS x JOIN b AS y ON x.i < y.i AND x.lo <= y.hi AND y.lo <= x.hi
      ORDER BY 1`,
  );
  if (rows.length > MAX_RANGES) return undefined;
  return { ranges: rows, reason: `unique index on each of ${parts.length} partitions` };
}

/** The filter "the key is in one of the ranges", with its parameters numbered from 1. */
export function rangeFilter(column: string, ranges: KeyRanges['ranges']): { sql: string; params: string[] } {
  const params: string[] = [];
  const terms = ranges.map((r) => {
    params.push(r.lo, r.hi);
    return `${column} BETWEEN $${params.length - 1} AND $${params.length}`;
  });
  return { sql: `(${terms.join(' OR ')})`, params };
}
