import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type pg from 'pg';
import { isPeriod } from '../contracts';
import type { ModelResult } from '../contracts';
import type { DatasetSpec, ModelSpec } from '../datasets/types';
import { withTransaction } from '../db';
import { InputError } from '../errors';
import { BUILD_SCHEMA, buildRelname, builtTables, columnsOf, describeColumns, swapIntoPlace } from './build';
import { SQL_DIR } from './migrate';
import { createMonthPartitions, monthBounds, monthCheck, parsePartition, partitionedDdl, partitionedOn, partitionsOf, relkindOf } from './partition';
import type { PartitionSpec } from './partition';
import { assertIdentifier, lineAt, refsOf, renderSql, splitModelDdl } from './sql-text';
import type { Placeholders } from './sql-text';

export { IDENTIFIER, assertIdentifier } from './sql-text';
export { parseModelTests } from './annotations';
export type { ModelTest, ModelTestKind } from './annotations';

/** A model run as runModel reports it; the caller adds the layer to make a ModelResult. */
export type ModelRun = Omit<ModelResult, 'layer'>;

/** Resolves a path relative to sql/ and refuses anything that would leave it. */
export function sqlPath(file: string, sqlDir: string = SQL_DIR): string {
  const full = resolve(sqlDir, file);
  const rel = relative(sqlDir, full);
  if (rel.startsWith('..') || isAbsolute(rel) || !file.endsWith('.sql')) {
    throw new InputError('ConfigError', `SQL file ${JSON.stringify(file)} is not a .sql file inside ${sqlDir}`);
  }
  return full;
}

export async function readSqlFile(file: string, sqlDir: string = SQL_DIR): Promise<string> {
  const full = sqlPath(file, sqlDir);
  try {
    return await readFile(full, 'utf8');
  } catch (err) {
    throw new InputError('ConfigError', `SQL file ${file} cannot be read (${full}): ${(err as Error).message}`);
  }
}

/**
 * Run parameters a model or a singular test can read with `current_setting('gudang.<name>', true)`: set with
 * SET LOCAL semantics inside the run's transaction, so they never leak into another run on the same connection.
 *
 *   gudang.period   'YYYY-MM' for a period run (the model replaces only that month), '' for a full refresh
 */
export interface ModelParams {
  /** The logical month to load, YYYY-MM; absent = full refresh. */
  period?: string;
  /**
   * Names the run's build tables (gudang_build.<schema>__<table>__<tag>): models of one run see each other's
   * built tables through {{ ref() }}. Default 'adhoc'.
   */
  runTag?: string;
  /** Publish the built table at once, in the model's own transaction (no separate publish step). Default false. */
  publish?: boolean;
}

/**
 * Sets the run parameters on a connection inside an open transaction (transaction-local), and turns PostgreSQL's JIT
 * compilation off for that transaction. Model and check queries are costed high (many joins over a fact of millions
 * of rows) but run for well under a second to a few seconds, and JIT with inlining and optimisation added 0.2 to
 * 1.7 s to each: at 1M order lines, 2.7 s of an 11.4 s transform (issue 14, docs/performance.md). The server's own
 * setting is left as it is for every other session.
 */
export async function setRunParams(client: pg.ClientBase, params: ModelParams): Promise<void> {
  const period = params.period ?? '';
  if (period !== '' && !isPeriod(period)) throw new InputError('ConfigError', `period ${JSON.stringify(period)} is not YYYY-MM`);
  await client.query(`SELECT set_config('gudang.period', $1, true), set_config('jit', 'off', true)`, [period]);
}

const findModel = (dataset: DatasetSpec, name: string) => dataset.layers.flatMap((l) => l.models).find((m) => m.name === name);

/**
 * {{ ref() }} and {{ source() }} of a dataset as of a run: a model built in this run (its build table exists)
 * resolves to that build table, any other to its published table; a source to the dataset's staging table.
 */
export async function datasetPlaceholders(client: pg.ClientBase, dataset: DatasetSpec, runTag: string): Promise<Placeholders> {
  const built = await builtTables(client, runTag);
  const tables = dataset.layers.flatMap((l) => l.models.map((m) => m.table));
  const { rows } = await client.query<{ t: string }>(`SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL`, [tables]);
  const existing = new Set(rows.map((r) => r.t));
  return {
    published(name) {
      const model = findModel(dataset, name);
      if (!model) throw new InputError('ConfigError', `names no model of dataset ${dataset.name}`);
      const table = assertIdentifier(model.table, `model ${name}: table`);
      if (existing.has(table)) return table;
      // Never published: an empty relation with the columns of this run's build (the model was built earlier in the run).
      const relname = buildRelname(table, runTag);
      if (built.has(relname)) return `(SELECT * FROM ${BUILD_SCHEMA}.${relname} WHERE false)`;
      throw new InputError('ConfigError', `model ${name} has neither a published table nor a build table in this run`);
    },
    ref(name) {
      const model = findModel(dataset, name);
      if (!model) throw new InputError('ConfigError', `names no model of dataset ${dataset.name}`);
      const relname = buildRelname(assertIdentifier(model.table, `model ${name}: table`), runTag);
      return built.has(relname) ? `${BUILD_SCHEMA}.${relname}` : model.table;
    },
    source(name) {
      if (!dataset.sources.some((s) => s.name === name)) throw new InputError('ConfigError', `names no source of dataset ${dataset.name}`);
      return assertIdentifier(`${dataset.schemas.staging}.${name}`, `source ${name}: table`);
    },
  };
}

/**
 * Per model of `layer`, the models of the same layer its SQL reads through {{ ref() }}: the run builds those first
 * (workflows/pipeline.ts), so the ref resolves to this run's build and never to the published table it replaces.
 * A model must come after the models it reads in the layer's list (in-process runners build the list in order); one
 * that reads itself or a later model is a ConfigError naming both.
 */
export async function layerAfter(layer: { name: string; models: ModelSpec[] }, sqlDir: string = SQL_DIR): Promise<Record<string, string[]>> {
  const after: Record<string, string[]> = {};
  for (const [i, model] of layer.models.entries()) {
    const names = refsOf(await readSqlFile(model.file, sqlDir));
    const reads = layer.models.filter((m) => names.includes(m.name));
    const late = reads.find((m) => layer.models.indexOf(m) >= i);
    if (late) {
      throw new InputError('ConfigError', `model ${model.name} (${model.file}) reads ${late.name} of its own layer ${layer.name}, which is not listed before it`);
    }
    if (reads.length > 0) after[model.name] = reads.map((m) => m.name);
  }
  return after;
}

const USES_PRIOR = /\{\{\s*prior\s*\}\}/;
const BASE_COMMENT = /^gudang:base=(\d+|none|absent)(?:;month=(\d{4}-\d{2}))?$/;

/**
 * Runs one model in a single transaction: creates its build table from the model's DDL (its
 * `CREATE TABLE {{ this }} (...)` statement, so the table always has the columns its SQL declares), runs the rest
 * of its SQL with the placeholders resolved, and counts the rows. With `params.publish` the built table then
 * replaces the published one in the same transaction; otherwise it waits in gudang_build for publishRun.
 * A failure rolls everything back, so a retry starts from the previous committed state. Runs of one model in one
 * run are serialised by an advisory lock on its build table.
 *
 * {{ prior }} (stateful models) is the published table when its columns equal the DDL's. When it is missing it is
 * created empty from the DDL (in gudang_build, so nothing visible changes); when its columns differ, the
 * overlapping columns are carried over into a copy made from the DDL (new columns get their default), and if that
 * fails (a new NOT NULL column without a default, a type that does not cast) the run fails with a ConfigError
 * naming both column lists. The build table remembers which published table it was based on (a table comment),
 * so publishing over a table another run replaced meanwhile is refused.
 *
 * SQL errors are rethrown with the model, file and line named; errors of SQLSTATE class 42 (syntax error, unknown
 * table or column) come back as InputError 'ConfigError' because retrying the same SQL cannot succeed.
 */
export async function runModel(pool: pg.Pool, dataset: DatasetSpec, model: ModelSpec, params: ModelParams = {}, sqlDir: string = SQL_DIR): Promise<ModelRun> {
  const started = Date.now();
  const table = assertIdentifier(model.table, `model ${model.name}: table`);
  const runTag = params.runTag ?? 'adhoc';
  const build = `${BUILD_SCHEMA}.${buildRelname(table, runTag)}`;
  const priorCopy = `${build}_p`;
  const sql = await readSqlFile(model.file, sqlDir);
  const { ddl, body, ddlLine } = splitModelDdl(sql, model.file);
  const stateful = USES_PRIOR.test(body);
  const part = parsePartition(sql, model.file);

  let rows: number;
  try {
    rows = await withTransaction(pool, async (client) => {
      const exec = async (text: string, firstLine: number) => {
        try {
          await client.query(text);
        } catch (err) {
          throw describeModelError(err, model, text, firstLine);
        }
      };
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gudang.model:${build}`]);
      // Publishing at once replaces tables other models read: one such model at a time per dataset, taken before
      // any table is read, so two of them cannot deadlock (one reading what the other drops).
      if (params.publish) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gudang.publish:${dataset.name}`]);
      await setRunParams(client, params);
      const refs = await datasetPlaceholders(client, dataset, runTag);
      const where = `model ${model.name} (sql/${model.file})`;
      await client.query(`DROP TABLE IF EXISTS ${build}, ${priorCopy}`);
      const renderedDdl = renderSql(ddl, { ...refs, this: build }, where);
      // A month-partitioned model (partition.ts): a period run over a published table partitioned the same way
      // builds that month's table only; anything else builds the whole partitioned table.
      let month: string | undefined;
      // (Publishing at once, as runs from before write-audit-publish do, replaces the whole table: built whole.)
      if (part && params.period && !params.publish && (await partitionedOn(client, table, part.column))) {
        await exec(renderedDdl, ddlLine);
        if (describeColumns(await columnsOf(client, table)) === describeColumns(await columnsOf(client, build))) {
          month = params.period;
          await client.query(`ALTER TABLE ${build} ADD CONSTRAINT month_bound ${monthCheck(part.column, month)}`);
        } else {
          await client.query(`DROP TABLE ${build}`);
        }
      }
      if (part && !month) {
        await exec(partitionedDdl(renderedDdl, part.column), ddlLine);
        await createMonthPartitions(client, build, part, refs.ref(part.fromModel), params.period);
      } else if (!part) {
        await exec(renderedDdl, ddlLine);
      }
      let prior = table;
      let base = 'absent';
      if (stateful) ({ prior, base } = await preparePrior(client, model, renderSql(ddl, { ...refs, this: priorCopy }, where), build, priorCopy));
      await exec(renderSql(body, { ...refs, this: build, prior }, where), 1);
      const count = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${build}`);
      if (part && !month && params.period && refs.published) await carryOverOtherMonths(client, model, part, build, params.period);
      if (part) await addPartitionKeys(client, build, part, month !== undefined);
      await client.query(`DROP TABLE IF EXISTS ${priorCopy}`);
      if (params.publish) {
        await swapIntoPlace(client, build, table);
      } else {
        await client.query(`COMMENT ON TABLE ${build} IS 'gudang:base=${stateful ? base : 'none'}${month ? `;month=${month}` : ''}'`);
      }
      return Number(count.rows[0]?.n ?? 0);
    });
  } catch (err) {
    throw err instanceof InputError || described.has(err as Error) ? err : describeModelError(err, model, sql, 1);
  }
  return { model: model.name, table, rows, durationMs: Date.now() - started };
}

/** {{ prior }} for a stateful model: the published table, or a copy made from the DDL (see runModel). */
async function preparePrior(
  client: pg.ClientBase,
  model: ModelSpec,
  priorDdl: string,
  build: string,
  priorCopy: string,
): Promise<{ prior: string; base: string }> {
  const { rows } = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [model.table]);
  const oid = rows[0]?.oid ?? null;
  const declared = await columnsOf(client, build);
  if (oid) {
    const published = await columnsOf(client, model.table);
    if (describeColumns(published) === describeColumns(declared)) return { prior: model.table, base: oid };
    await client.query(priorDdl);
    const common = declared.filter((c) => published.some((p) => p.name === c.name)).map((c) => c.name);
    try {
      await client.query('SAVEPOINT carry_over');
      await client.query(`INSERT INTO ${priorCopy} (${common.join(', ')}) SELECT ${common.join(', ')} FROM ${model.table}`);
    } catch (err) {
      throw new InputError(
        'ConfigError',
        `model ${model.name} (sql/${model.file}) declares (${describeColumns(declared)}) but the published ${model.table} has ` +
          `(${describeColumns(published)}); carrying its overlapping columns (${common.join(', ') || 'none'}) over into {{ prior }} failed: ` +
          `${(err as Error).message}. Make the new columns nullable or give them a default, or drop ${model.table} to start its history afresh`,
        { model: model.name, file: model.file },
      );
    }
    return { prior: priorCopy, base: oid };
  }
  await client.query(priorDdl);
  return { prior: priorCopy, base: 'absent' };
}

/**
 * The published table a build table was based on, as runModel recorded it: its OID, 'absent' (a stateful model
 * whose table was not published yet) or 'none' (the model does not read {{ prior }}).
 */
export async function buildBase(client: pg.ClientBase, build: string): Promise<string | undefined> {
  return (await buildInfo(client, build)).base;
}

/** buildBase, and the month when the build is one month of a month-partitioned model (partition.ts). */
export async function buildInfo(client: pg.ClientBase, build: string): Promise<{ base?: string; month?: string }> {
  const { rows } = await client.query<{ c: string | null }>(`SELECT obj_description($1::regclass, 'pg_class') AS c`, [build]);
  const m = BASE_COMMENT.exec(rows[0]?.c ?? '');
  return { base: m?.[1], month: m?.[2] };
}

/**
 * A period run that had to build a month-partitioned model whole (no partitioned published table yet): every
 * published row outside the month whose key the month did not take is carried over, as the period run's
 * {{ prior }} used to be.
 */
async function carryOverOtherMonths(client: pg.ClientBase, model: ModelSpec, part: PartitionSpec, build: string, period: string): Promise<void> {
  if ((await relkindOf(client, model.table)) === undefined) return;
  const published = await columnsOf(client, model.table);
  const common = (await columnsOf(client, build)).filter((c) => published.some((p) => p.name === c.name)).map((c) => c.name);
  const b = monthBounds(period);
  const keyMatch = part.key.map((k) => `n.${k} = f.${k}`).join(' AND ');
  await client.query(
    `INSERT INTO ${build} (${common.join(', ')})
     SELECT ${common.map((c) => `f.${c}`).join(', ')} FROM ${model.table} AS f
      WHERE NOT (f.${part.column} >= '${b.from}' AND f.${part.column} < '${b.to}' AND f.${part.column} IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM ${build} AS n WHERE ${keyMatch})`,
  );
}

/** Every partition's primary key (or the month table's own), added after the rows are in. */
async function addPartitionKeys(client: pg.ClientBase, build: string, part: PartitionSpec, monthOnly: boolean): Promise<void> {
  const tables = monthOnly ? [build] : (await partitionsOf(client, build)).map((p) => `${p.schema}.${p.name}`);
  for (const t of tables) await client.query(`ALTER TABLE ${t} ADD PRIMARY KEY (${part.key.join(', ')})`);
}

const described = new WeakSet<Error>();

function describeModelError(err: unknown, model: ModelSpec, sql: string, firstLine: number): Error {
  if (err instanceof InputError || described.has(err as Error)) return err as Error;
  const pgErr = err as Error & { code?: string; position?: string; detail?: string; hint?: string };
  const where = pgErr.position ? ` at line ${firstLine - 1 + lineAt(sql, Number(pgErr.position) - 1)}` : '';
  const extra = [pgErr.detail, pgErr.hint && `hint: ${pgErr.hint}`].filter(Boolean).join('; ');
  const message = `model ${model.name} (sql/${model.file})${where} failed: ${pgErr.message}${extra ? ` (${extra})` : ''}`;
  if (typeof pgErr.code === 'string' && pgErr.code.startsWith('42')) {
    return new InputError('ConfigError', message, { model: model.name, file: model.file, sqlstate: pgErr.code });
  }
  const wrapped = new Error(message, { cause: err });
  if (pgErr.code) Object.assign(wrapped, { code: pgErr.code });
  described.add(wrapped);
  return wrapped;
}
