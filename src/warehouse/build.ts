import { createHash } from 'node:crypto';
import type pg from 'pg';
import { InputError } from '../errors';

// Where a run builds its tables, and how a built table replaces the published one.
//
// Every model of a run writes `gudang_build.<schema>__<table>__<run tag>` (schema gudang_build: created by the
// migrations, no privileges for readers). The run tag comes from the Temporal run id, so two runs never share a
// build table and a retried activity of one run rebuilds its own. Publishing moves a built table into its
// schema under the published name (DROP of the old table, ALTER TABLE ... SET SCHEMA, RENAME), inside the
// caller's transaction, carrying the old table's grants and the schema's default privileges over.

export const BUILD_SCHEMA = 'gudang_build';
const TAG = /^[a-z0-9]{1,12}$/;

/** A short, stable tag for a run: 10 hex digits of the sha256 of its id. */
export function runTagOf(runId: string): string {
  return createHash('sha256').update(runId).digest('hex').slice(0, 10);
}

function splitTable(table: string): { schema: string; name: string } {
  const dot = table.indexOf('.');
  if (dot < 0) throw new InputError('ConfigError', `table ${JSON.stringify(table)} is not schema-qualified`);
  return { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

/** The unqualified name of a published table's build table for a run (at most 56 characters). */
export function buildRelname(published: string, runTag: string): string {
  if (!TAG.test(runTag)) throw new InputError('ConfigError', `run tag ${JSON.stringify(runTag)} is not 1-12 lower-case letters or digits`);
  const { schema, name } = splitTable(published);
  let base = `${schema}__${name}`;
  if (base.length > 44) base = `${base.slice(0, 35)}_${createHash('sha256').update(base).digest('hex').slice(0, 8)}`;
  return `${base}__${runTag}`;
}

export const buildTable = (published: string, runTag: string) => `${BUILD_SCHEMA}.${buildRelname(published, runTag)}`;

/** Build tables of one run that exist now (unqualified names). */
export async function builtTables(client: pg.ClientBase, runTag: string): Promise<Set<string>> {
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname::text AS relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND right(c.relname, $2) = $3`,
    [BUILD_SCHEMA, runTag.length + 2, `__${runTag}`],
  );
  return new Set(rows.map((r) => r.relname));
}

/** Drops every build table of a run (a failed or cancelled run's leftovers). Returns how many. */
export async function discardBuild(client: pg.ClientBase, runTag: string): Promise<number> {
  const tables = [...(await builtTables(client, runTag))];
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname::text AS relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND right(c.relname, $2) = $3`,
    [BUILD_SCHEMA, runTag.length + 4, `__${runTag}_p`],
  );
  tables.push(...rows.map((r) => r.relname));
  if (tables.length > 0) await client.query(`DROP TABLE IF EXISTS ${tables.map((t) => `${BUILD_SCHEMA}.${t}`).join(', ')}`);
  return tables.length;
}

export interface Column {
  name: string;
  type: string;
}

export async function columnsOf(client: pg.ClientBase, table: string): Promise<Column[]> {
  const { rows } = await client.query<Column>(
    `SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows;
}

export const describeColumns = (cols: Column[]) => cols.map((c) => `${c.name} ${c.type}`).join(', ');

/**
 * GRANT statements on $2 (the target) for every entry of an access-control list other than its owner's. `acl` is a
 * query yielding one row (acl aclitem[], owner oid) from $1 and $2.
 */
async function grantsFrom(client: pg.ClientBase, acl: string, params: [string, string]): Promise<string[]> {
  const { rows } = await client.query<{ stmt: string }>(
    `SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS stmt
       FROM (${acl}) AS src(acl, owner)
       CROSS JOIN LATERAL aclexplode(src.acl) AS a
       LEFT JOIN pg_roles AS r ON r.oid = a.grantee
      WHERE a.grantee <> src.owner`,
    params,
  );
  return rows.map((r) => r.stmt);
}

/** GRANT statements that give `target` the privileges `source` has (other than its owner's), if source exists. */
const grantsLike = (client: pg.ClientBase, source: string, target: string) =>
  grantsFrom(client, `SELECT relacl, relowner FROM pg_class WHERE oid = to_regclass($1)`, [source, target]);

/** GRANT statements for the default privileges that a table created by its owner in `schema` would get. */
const defaultGrants = (client: pg.ClientBase, schema: string, target: string) =>
  grantsFrom(
    client,
    `SELECT defaclacl, defaclrole FROM pg_default_acl
      WHERE defaclobjtype = 'r'
        AND defaclrole = (SELECT relowner FROM pg_class WHERE oid = $2::regclass)
        AND defaclnamespace IN (0, (SELECT oid FROM pg_namespace WHERE nspname = $1))`,
    [schema, target],
  );

/** Renames the indexes and owned sequences of a just-published table after it: `<table>_pkey`, `<table>_<cols>_idx`. */
export async function renameDependents(client: pg.ClientBase, schema: string, table: string): Promise<void> {
  const qualified = `${schema}.${table}`;
  const { rows } = await client.query<{ relname: string; kind: string; cols: string }>(
    `SELECT i.relname::text AS relname,
            CASE WHEN x.indisprimary THEN 'pkey' WHEN x.indisunique THEN 'key' ELSE 'idx' END AS kind,
            coalesce(string_agg(a.attname, '_' ORDER BY k.ord), 'expr') AS cols
       FROM pg_index AS x
       JOIN pg_class AS i ON i.oid = x.indexrelid
       CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       LEFT JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
      WHERE x.indrelid = $1::regclass
      GROUP BY i.relname, x.indisprimary, x.indisunique
     UNION ALL
     SELECT s.relname::text, 'seq', a.attname::text
       FROM pg_depend AS d
       JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
       JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.refobjid = $1::regclass AND d.classid = 'pg_class'::regclass
      ORDER BY 1`,
    [qualified],
  );
  const taken = new Set<string>();
  for (const r of rows) {
    const stem = r.kind === 'pkey' ? table : `${table}_${r.cols}`;
    let name = `${stem}_${r.kind}`.slice(0, 63);
    for (let n = 1; taken.has(name); n++) name = `${stem.slice(0, 58)}_${r.kind}${n}`;
    taken.add(name);
    if (name === r.relname) continue;
    const what = r.kind === 'seq' ? 'SEQUENCE' : 'INDEX';
    await client.query(`ALTER ${what} ${schema}.${r.relname} RENAME TO ${name}`);
  }
}

/**
 * Makes `build` (a table in gudang_build) the published table `published`, inside the caller's transaction:
 * drops the old table (a view that depends on it makes this fail, naming the view, rather than dropping it),
 * moves the built one into place, names its indexes after it, and gives it the old table's grants and the
 * schema's default privileges, so readers keep seeing it.
 */
export async function swapIntoPlace(client: pg.ClientBase, build: string, published: string): Promise<void> {
  const { schema, name } = splitTable(published);
  const buildName = splitTable(build).name;
  const grants = await grantsLike(client, published, published);
  await client.query(`DROP TABLE IF EXISTS ${published}`);
  // A partitioned build (partition.ts): its partitions move with it, `<build>_<suffix>` becoming `<table>_<suffix>`.
  const { rows: parts } = await client.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [build],
  );
  const moved: string[] = [];
  for (const { name: part } of parts) {
    if (!part.startsWith(`${buildName}_`)) throw new InputError('ConfigError', `partition ${part} of ${build} is not named ${buildName}_<suffix>`);
    const target = `${name}_${part.slice(buildName.length + 1)}`;
    await client.query(`ALTER TABLE ${BUILD_SCHEMA}.${part} SET SCHEMA ${schema}`);
    await client.query(`ALTER TABLE ${schema}.${part} RENAME TO ${target}`);
    await renameDependents(client, schema, target);
    moved.push(`${schema}.${target}`);
  }
  await client.query(`ALTER TABLE ${build} SET SCHEMA ${schema}`);
  await client.query(`ALTER TABLE ${schema}.${buildName} RENAME TO ${name}`);
  await client.query(`COMMENT ON TABLE ${published} IS NULL`);
  await renameDependents(client, schema, name);
  for (const stmt of [...grants, ...(await defaultGrants(client, schema, published))]) await client.query(stmt);
  // a partition read on its own needs what its parent was granted
  for (const part of moved) await grantLikeParent(client, schema, published, part);
}

async function grantLikeParent(client: pg.ClientBase, schema: string, parent: string, part: string): Promise<void> {
  for (const stmt of [...(await grantsLike(client, parent, part)), ...(await defaultGrants(client, schema, part))]) await client.query(stmt);
}

/**
 * Makes `build`, one month of a month-partitioned model (partition.ts), the published table's partition for that
 * month, inside the caller's transaction: the published month partition is detached and dropped, rows of other
 * months whose key the month now holds (an order whose date moved into it) are deleted, and the build is attached
 * in its place as `<table>_YYYYMM`. Other partitions are not rewritten. Returns how many moved rows were deleted.
 */
export async function swapMonthIntoPlace(
  client: pg.ClientBase,
  build: string,
  published: string,
  bounds: { from: string; to: string; suffix: string },
  column: string,
  key: string[],
): Promise<number> {
  const { schema, name } = splitTable(published);
  const buildName = splitTable(build).name;
  const part = `${name}_${bounds.suffix}`;
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = $2::regclass) AS ok`,
    [`${schema}.${part}`, published],
  );
  const replacing = rows[0]?.ok === true;
  if (replacing) {
    await client.query(`ALTER TABLE ${published} DETACH PARTITION ${schema}.${part}`);
    await client.query(`DROP TABLE ${schema}.${part}`);
  } else {
    // No partition for the month yet: its rows, if any, sit in the default partition.
    await client.query(`DELETE FROM ${published} WHERE ${column} >= '${bounds.from}' AND ${column} < '${bounds.to}'`);
  }
  // A moved row's key is one of the month's keys: with a one-column key, each partition reads only the month's key
  // range through its primary key (with keys numbered in date order, an index probe per other month instead of a
  // scan of every row of every month; issue 14). JIT off as for the models (models.ts, setRunParams).
  const join = key.map((k) => `f.${k} = n.${k}`).join(' AND ');
  const range = key.length === 1 ? ` AND f.${key[0]} BETWEEN (SELECT min(${key[0]}) FROM ${build}) AND (SELECT max(${key[0]}) FROM ${build})` : '';
  await client.query(`SELECT set_config('jit', 'off', true)`);
  const moved = await client.query(`DELETE FROM ${published} AS f USING ${build} AS n WHERE ${join}${range}`);
  await client.query(`ALTER TABLE ${build} SET SCHEMA ${schema}`);
  await client.query(`ALTER TABLE ${schema}.${buildName} RENAME TO ${part}`);
  await client.query(`COMMENT ON TABLE ${schema}.${part} IS NULL`);
  await client.query(`ALTER TABLE ${published} ATTACH PARTITION ${schema}.${part} FOR VALUES FROM ('${bounds.from}') TO ('${bounds.to}')`);
  await renameDependents(client, schema, part);
  await grantLikeParent(client, schema, published, `${schema}.${part}`);
  return moved.rowCount ?? 0;
}
