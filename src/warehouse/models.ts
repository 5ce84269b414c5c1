import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type pg from 'pg';
import { isPeriod } from '../contracts';
import type { ModelResult } from '../contracts';
import type { ModelSpec } from '../datasets/types';
import { withTransaction } from '../db';
import { InputError } from '../errors';
import { SQL_DIR } from './migrate';

/** A model run as runModel reports it; the caller adds the layer to make a ModelResult. */
export type ModelRun = Omit<ModelResult, 'layer'>;

/** Identifiers spliced into generated SQL (tables, columns): plain lower-case, optionally schema-qualified. */
export const IDENTIFIER = /^[a-z_][a-z0-9_.]*$/;

export function assertIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name) || name.includes('..') || name.endsWith('.')) {
    throw new InputError('ConfigError', `${what} ${JSON.stringify(name)} is not a plain lower-case identifier`);
  }
  return name;
}

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
}

/** Sets the run parameters on a connection inside an open transaction (transaction-local). */
export async function setRunParams(client: pg.PoolClient, params: ModelParams): Promise<void> {
  const period = params.period ?? '';
  if (period !== '' && !isPeriod(period)) throw new InputError('ConfigError', `period ${JSON.stringify(period)} is not YYYY-MM`);
  await client.query(`SELECT set_config('gudang.period', $1, true)`, [period]);
}

/** 1-based line of a character offset (PostgreSQL reports `position` 1-based, in characters). */
function lineOf(text: string, position: number): number {
  return text.slice(0, Math.max(0, position - 1)).split('\n').length;
}

/**
 * Runs one model: its SQL file (which creates its table if missing and rebuilds its contents, or only the
 * month of `params.period`) in a single transaction, then counts the table's rows. A failure rolls everything back, so a retry starts from the
 * previous committed state. Runs of the same model are serialised by a transaction-level advisory lock keyed
 * on the table, so two attempts racing each other cannot interleave.
 *
 * SQL errors are rethrown with the model and file named; errors of SQLSTATE class 42 (syntax error, unknown
 * table or column) come back as InputError 'ConfigError' because retrying the same SQL cannot succeed.
 */
export async function runModel(pool: pg.Pool, model: ModelSpec, sqlDir: string = SQL_DIR, params: ModelParams = {}): Promise<ModelRun> {
  const started = Date.now();
  const table = assertIdentifier(model.table, `model ${model.name}: table`);
  const sql = await readSqlFile(model.file, sqlDir);

  let rows: number;
  try {
    rows = await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gudang.model:${table}`]);
      await setRunParams(client, params);
      await client.query(sql);
      const count = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
      return Number(count.rows[0]?.n ?? 0);
    });
  } catch (err) {
    throw describeModelError(err, model, sql);
  }
  return { model: model.name, table, rows, durationMs: Date.now() - started };
}

function describeModelError(err: unknown, model: ModelSpec, sql: string): Error {
  if (err instanceof InputError) return err;
  const pgErr = err as Error & { code?: string; position?: string; detail?: string; hint?: string };
  const where = pgErr.position ? ` at line ${lineOf(sql, Number(pgErr.position))}` : '';
  const extra = [pgErr.detail, pgErr.hint && `hint: ${pgErr.hint}`].filter(Boolean).join('; ');
  const message = `model ${model.name} (sql/${model.file})${where} failed: ${pgErr.message}${extra ? ` (${extra})` : ''}`;
  if (typeof pgErr.code === 'string' && pgErr.code.startsWith('42')) {
    return new InputError('ConfigError', message, { model: model.name, file: model.file, sqlstate: pgErr.code });
  }
  const wrapped = new Error(message, { cause: err });
  if (pgErr.code) Object.assign(wrapped, { code: pgErr.code });
  return wrapped;
}

// ---------------------------------------------------------------------------------------------------------
// Generic tests, declared as annotation comments in a model file, one per line:
//
//   -- test: unique(col[, col...])                        no two rows share these values (NULLs compare equal)
//   -- test: not_null(col[, col...])                      none of these columns is NULL
//   -- test: relationship(col -> schema.table.col)        every non-NULL value exists in the parent column
//   -- test: unknown_member(col = <integer>)              exactly one row has this key (the unknown member)
//
// unique, not_null and relationship take an optional row filter after the parentheses, limited to
//   where <col> (= | <> | != | < | <= | > | >=) <integer>     or     where <col> is [not] null
// e.g. `-- test: not_null(customer_id) where customer_key <> -1` exempts the unknown member, whose natural id
// is NULL. Every identifier is checked against IDENTIFIER before it is spliced into SQL.
// ---------------------------------------------------------------------------------------------------------

export type ModelTestKind = 'unique' | 'not_null' | 'relationship' | 'unknown_member';

export interface ModelTest {
  kind: ModelTestKind;
  /** Display name, e.g. "unique(customer_key)" or "not_null(customer_id) where customer_key <> -1". */
  check: string;
  /** The model's table, schema-qualified. */
  table: string;
  columns: string[];
  /** relationship: the parent table and column. */
  references?: { table: string; column: string };
  /** unknown_member: the key value. */
  value?: string;
  /** Optional row filter, already validated and normalised, e.g. "customer_key <> -1". */
  where?: string;
}

const TEST_LINE = /^\s*--\s*test:\s*(.*?)\s*$/;
const TEST_CALL = /^([a-z_]+)\s*\((.*)\)\s*(?:where\s+(.+))?$/i;
const WHERE_COMPARE = /^([a-z_][a-z0-9_]*)\s*(=|<>|!=|<=|>=|<|>)\s*(-?\d+)$/;
const WHERE_NULL = /^([a-z_][a-z0-9_]*)\s+is\s+(not\s+)?null$/i;

function bad(table: string, line: string, why: string): InputError {
  return new InputError('ConfigError', `test annotation for ${table} is invalid: ${JSON.stringify(line)}: ${why}`);
}

function parseColumns(list: string, table: string, line: string): string[] {
  const cols = list.split(',').map((c) => c.trim());
  if (cols.length === 0 || cols.some((c) => c === '')) throw bad(table, line, 'expected a comma-separated list of columns');
  for (const c of cols) {
    if (!IDENTIFIER.test(c) || c.includes('.')) throw bad(table, line, `${JSON.stringify(c)} is not a plain column name`);
  }
  return cols;
}

function parseWhere(text: string, table: string, line: string): string {
  const t = text.trim();
  const cmp = WHERE_COMPARE.exec(t);
  if (cmp) return `${cmp[1]} ${cmp[2] === '!=' ? '<>' : cmp[2]} ${cmp[3]}`;
  const isNull = WHERE_NULL.exec(t);
  if (isNull) return `${isNull[1]} is ${isNull[2] ? 'not ' : ''}null`;
  throw bad(table, line, 'a filter must be "where <column> <op> <integer>" or "where <column> is [not] null"');
}

/** Parses the `-- test:` annotations of a model file into generic checks on `table`. Throws on a bad annotation. */
export function parseModelTests(sqlText: string, table: string): ModelTest[] {
  assertIdentifier(table, 'model table');
  const tests: ModelTest[] = [];
  for (const raw of sqlText.split(/\r?\n/)) {
    const m = TEST_LINE.exec(raw);
    if (!m) continue;
    const line = m[1]!;
    const call = TEST_CALL.exec(line);
    if (!call) throw bad(table, line, 'expected name(arguments) [where <filter>]');
    const kind = call[1]!.toLowerCase();
    const args = call[2]!.trim();
    const where = call[3] === undefined ? undefined : parseWhere(call[3], table, line);
    const suffix = where ? ` where ${where}` : '';
    switch (kind) {
      case 'unique':
      case 'not_null': {
        const columns = parseColumns(args, table, line);
        tests.push({ kind, check: `${kind}(${columns.join(', ')})${suffix}`, table, columns, where });
        break;
      }
      case 'relationship': {
        const rel = /^([a-z_][a-z0-9_]*)\s*->\s*([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)$/.exec(args);
        if (!rel) throw bad(table, line, 'expected relationship(column -> schema.table.column)');
        const [, column, parent, parentColumn] = rel as unknown as [string, string, string, string];
        tests.push({
          kind,
          check: `relationship(${column} -> ${parent}.${parentColumn})${suffix}`,
          table,
          columns: [column],
          references: { table: parent, column: parentColumn },
          where,
        });
        break;
      }
      case 'unknown_member': {
        if (where) throw bad(table, line, 'unknown_member takes no filter');
        const um = /^([a-z_][a-z0-9_]*)\s*=\s*(-?\d+)$/.exec(args);
        if (!um) throw bad(table, line, 'expected unknown_member(column = integer)');
        tests.push({ kind, check: `unknown_member(${um[1]} = ${um[2]})`, table, columns: [um[1]!], value: um[2]! });
        break;
      }
      default:
        throw bad(table, line, `unknown test "${kind}" (known: unique, not_null, relationship, unknown_member)`);
    }
  }
  return tests;
}
