import type { Pool, PoolClient } from '../db';
import type { DatasetSpec } from '../datasets/types';

// Which tables a backup holds and how each is described: the dataset's warehouse and mart tables (whole), and its
// rows of the ops history tables. The DDL is read from the catalog, so a restore rebuilds the same columns, types,
// NOT NULLs, primary key and indexes.

export interface BackupTable {
  /** schema.table */
  table: string;
  kind: 'warehouse' | 'mart' | 'ops';
  /** For ops tables: the rows of this dataset only. */
  where?: string;
}

const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;
export const qualified = (table: string) => table.split('.').map(quote).join('.');

/** The dataset's tables: every model's table (warehouse and mart schemas), then its ops history. */
export function backupTables(spec: DatasetSpec): BackupTable[] {
  const lit = `'${spec.name.replace(/'/g, "''")}'`;
  const tables: BackupTable[] = [];
  for (const layer of spec.layers) {
    for (const m of layer.models) {
      const schema = m.table.split('.')[0];
      const kind = schema === spec.schemas.mart ? 'mart' : 'warehouse';
      if (!tables.some((t) => t.table === m.table)) tables.push({ table: m.table, kind });
    }
  }
  const runs = `run_id IN (SELECT run_id FROM ops.pipeline_runs WHERE dataset = ${lit})`;
  tables.push(
    { table: 'ops.pipeline_runs', kind: 'ops', where: `dataset = ${lit}` },
    { table: 'ops.step_runs', kind: 'ops', where: runs },
    { table: 'ops.loads', kind: 'ops', where: `dataset = ${lit}` },
    { table: 'ops.partitions', kind: 'ops', where: `dataset = ${lit}` },
  );
  return tables;
}

export const selectOf = (t: BackupTable) => `SELECT * FROM ${qualified(t.table)}${t.where ? ` WHERE ${t.where}` : ''}`;

/**
 * An order-independent checksum of a table's rows: the count and the sum of the first 60 bits of each row's MD5
 * (of its text form). Equal on both sides means the same multiset of rows, to any practical certainty.
 */
export async function rowChecksum(db: Pool | PoolClient, t: BackupTable): Promise<{ rows: number; checksum: string }> {
  const { rows } = await db.query<{ n: string; s: string | null }>(
    `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(md5(r::text), 1, 15))::bit(60)::bigint), 0)::text AS s FROM (${selectOf(t)}) r`,
  );
  return { rows: Number(rows[0]!.n), checksum: rows[0]!.s ?? '0' };
}

/** CREATE TABLE (columns, types, NOT NULL, defaults, primary key) plus CREATE INDEX statements, from the catalog. */
export async function tableDdl(db: Pool | PoolClient, table: string): Promise<{ create: string; indexes: string[]; columns: string[] }> {
  const [schema, name] = table.split('.') as [string, string];
  const cols = await db.query<{ attname: string; type: string; notnull: boolean; def: string | null }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def
       FROM pg_attribute a
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [qualified(table)],
  );
  if (cols.rows.length === 0) throw new Error(`table ${table} does not exist`);
  const pk = await db.query<{ def: string }>(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`,
    [qualified(table)],
  );
  const lines = cols.rows.map((c) => `  ${quote(c.attname)} ${c.type}${c.notnull ? ' NOT NULL' : ''}${c.def && !/nextval\(/.test(c.def) ? ` DEFAULT ${c.def}` : ''}`);
  if (pk.rows[0]) lines.push(`  ${pk.rows[0].def}`);
  const idx = await db.query<{ indexdef: string }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS indexdef FROM pg_index i
      WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    [qualified(table)],
  );
  void schema;
  void name;
  return { create: `CREATE TABLE ${qualified(table)} (\n${lines.join(',\n')}\n)`, indexes: idx.rows.map((r) => r.indexdef), columns: cols.rows.map((c) => c.attname) };
}
