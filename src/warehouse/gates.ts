import { basename } from 'node:path';
import type pg from 'pg';
import { DEFAULT_GATE_CONNECTIONS } from '../config';
import type { GateCheckResult, GateResult } from '../contracts';
import type { DatasetSpec, LayerSpec } from '../datasets/types';
import { runOnSharedSnapshot } from '../db-snapshot';
import { InputError } from '../errors';
import { SQL_DIR } from './migrate';
import type { ModelParams, ModelTest } from './models';
import { assertIdentifier, datasetPlaceholders, parseModelTests, readSqlFile, setRunParams } from './models';
import { rangeFilter, uniqueKeyRanges } from './partition-unique';
import { enforcedBy, scanTable } from './scan';
import type { ScanFinding } from './scan';
import { renderSql } from './sql-text';
import type { Placeholders } from './sql-text';

// A layer's quality gate: the generic tests annotated in its model files plus its singular tests, all reading one
// snapshot (read-only REPEATABLE READ transactions that share it, on up to GUDANG_GATE_CONNECTIONS connections). Any failure throws
// InputError('QualityGateFailed'), which the activity turns into a non-retryable failure.

const SAMPLE_SIZE = 5;

export interface GateParams extends ModelParams {
  /** Connections the checks run on at once (default DEFAULT_GATE_CONNECTIONS; 1: one after another on one connection). */
  connections?: number;
}

export interface SingularTest {
  check: string;
  table: string;
  file: string;
  /** The SELECT, trailing semicolons and comments removed, ready to be wrapped in a subquery. */
  sql: string;
}

/**
 * Reads `-- check: <name>` and `-- table: <table>` from a singular test file. The table header is what the result
 * is reported against (the published name); the SQL itself reads models through {{ ref('model') }} and staging
 * through {{ source('source') }}, resolved when the gate runs.
 */
export function parseSingularTest(sqlText: string, file: string): SingularTest {
  const header = (name: string) => new RegExp(`^\\s*--\\s*${name}:\\s*(\\S+)\\s*$`, 'm').exec(sqlText)?.[1];
  const check = header('check') ?? basename(file, '.sql');
  const table = header('table');
  if (!table) throw new InputError('ConfigError', `singular test ${file} has no "-- table: <schema.table>" header`);
  assertIdentifier(table, `singular test ${file}: table`);
  return { check, table, file, sql: stripTrailing(sqlText) };
}

/** Removes trailing whitespace, semicolons and whole-line comments, so the query can sit inside `( ... )`. */
function stripTrailing(sqlText: string): string {
  let text = sqlText;
  for (;;) {
    const before = text;
    text = text.trimEnd();
    if (text.endsWith(';')) text = text.slice(0, -1);
    const lastLine = text.slice(text.lastIndexOf('\n') + 1);
    if (lastLine.trimStart().startsWith('--')) text = text.slice(0, text.lastIndexOf('\n') + 1);
    if (text === before) return text;
  }
}

/** What one executed check found; `label` lets the message print "order_detail_id=10007, 10012". */
type Finding = ScanFinding;

/**
 * Columns that identify a row of `table`, for samples: its primary key, else its narrowest unique index. A
 * partitioned table (partition.ts) has none of its own: its partitions' key names the rows.
 */
async function rowKey(client: pg.ClientBase, table: string): Promise<string[]> {
  const { rows: rel } = await client.query<{ t: string }>(
    `SELECT coalesce((SELECT i.inhrelid FROM pg_inherits AS i WHERE i.inhparent = c.oid AND c.relkind = 'p' ORDER BY i.inhrelid LIMIT 1), c.oid)::regclass::text AS t
       FROM pg_class AS c WHERE c.oid = $1::regclass`,
    [table],
  );
  const { rows } = await client.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) AS columns
       FROM pg_index AS i
       JOIN pg_class AS c ON c.oid = i.indexrelid
       JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
      WHERE i.indrelid = $1::regclass AND i.indisunique AND NOT (0 = ANY (i.indkey::int2[])) AND i.indpred IS NULL
      GROUP BY i.indexrelid, i.indisprimary, i.indnatts, c.relname
      ORDER BY i.indisprimary DESC, i.indnatts, c.relname
      LIMIT 1`,
    [rel[0]?.t ?? table],
  );
  return rows[0]?.columns ?? [];
}

const asText = (cols: string[]) => cols.map((c, i) => `${c}::text AS k${i}`).join(', ');
const label = (cols: string[]) => (cols.length === 1 ? cols[0]! : `(${cols.join(', ')})`);
function formatKey(row: Record<string, unknown>, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(row[`k${i}`] === null || row[`k${i}`] === undefined ? 'NULL' : String(row[`k${i}`]));
  return n === 1 ? parts[0]! : `(${parts.join(', ')})`;
}

async function keyOf(client: pg.ClientBase, table: string, keyCache: Map<string, string[]>): Promise<string[]> {
  let key = keyCache.get(table);
  if (!key) {
    key = (await rowKey(client, table)).map((c) => assertIdentifier(c, `key column of ${table}`));
    keyCache.set(table, key);
  }
  return key;
}

/**
 * Every generic test of one model's table, in annotation order: those its constraints guarantee are reported as
 * such, the not_null and relationship ones run in one scan (src/warehouse/scan.ts), a unique one on a partitioned
 * table over the key ranges where partitions overlap (src/warehouse/partition-unique.ts), the rest one by one.
 */
async function runModelTests(client: pg.ClientBase, tests: ModelTest[], table: string, refs: Placeholders, keyCache: Map<string, string[]>): Promise<Map<ModelTest, Finding>> {
  const out = new Map<ModelTest, Finding>();
  for (const test of tests) {
    const by = await enforcedBy(client, table, test);
    if (by) out.set(test, { failures: 0, values: [], enforcedBy: by });
  }
  const key = await keyOf(client, table, keyCache);
  if (key.length > 0) {
    const scanned = await scanTable(client, table, tests.filter((t) => !out.has(t)), key, refs);
    for (const [test, finding] of scanned) out.set(test, finding);
  }
  for (const test of tests) {
    if (out.has(test)) continue;
    const within = await uniqueKeyRanges(client, table, test);
    if (within && within.ranges.length === 0) {
      out.set(test, { failures: 0, label: label(test.columns), values: [], enforcedBy: `${within.reason}, key ranges disjoint` });
    } else {
      out.set(test, await runGenericTest(client, test, table, refs, keyCache, within && rangeFilter(test.columns[0]!, within.ranges)));
    }
  }
  return out;
}

/**
 * Runs one annotated test against `table`, the model's table as of this run (its build table if it was built).
 * `within` restricts a unique test to the rows that can hold a duplicate (partition-unique.ts).
 */
async function runGenericTest(
  client: pg.ClientBase,
  test: ModelTest,
  table: string,
  refs: Placeholders,
  keyCache: Map<string, string[]>,
  within?: { sql: string; params: string[] },
): Promise<Finding> {
  assertIdentifier(table, 'test table');
  const columns = test.columns.map((c) => assertIdentifier(c, `test column of ${table}`));
  const filter = test.where ? ` AND (${test.where})` : '';

  if (test.kind === 'unknown_member') {
    const value = test.value!;
    if (!/^-?\d+$/.test(value)) throw new InputError('ConfigError', `unknown_member value ${value} is not an integer`);
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${columns[0]} = ${value}`);
    const n = Number(rows[0]?.n ?? 0);
    return n === 1 ? { failures: 0, values: [] } : { failures: 1, values: [`${columns[0]}=${value} ${n === 0 ? 'is missing' : `appears ${n} times`}`] };
  }

  if (test.kind === 'unique') {
    const cols = columns.join(', ');
    const { rows } = await client.query(
      `SELECT (sum(n) OVER ())::text AS failures, ${asText(columns)}
         FROM (SELECT ${cols}, count(*) AS n FROM ${table} WHERE true${filter}${within ? ` AND ${within.sql}` : ''} GROUP BY ${cols} HAVING count(*) > 1) AS dup
        ORDER BY ${cols}
        LIMIT ${SAMPLE_SIZE}`,
      within?.params ?? [],
    );
    return {
      failures: Number(rows[0]?.failures ?? 0),
      label: label(columns),
      values: rows.map((r) => formatKey(r, columns.length)),
    };
  }

  let key = await keyOf(client, table, keyCache);
  if (key.length === 0) key = columns;
  let condition: string;
  if (test.kind === 'not_null') {
    condition = `(${columns.map((c) => `t.${c} IS NULL`).join(' OR ')})`;
  } else {
    const ref = test.references!;
    const parent = assertIdentifier(ref.model ? refs.ref(ref.model) : ref.table, 'relationship parent table');
    const parentColumn = assertIdentifier(ref.column, 'relationship parent column');
    condition = `t.${columns[0]} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${parent} AS p WHERE p.${parentColumn} = t.${columns[0]})`;
  }
  const { rows } = await client.query(
    `SELECT (count(*) OVER ())::text AS failures, ${asText(key.map((c) => `t.${c}`))}
       FROM ${table} AS t
      WHERE ${condition}${filter}
      ORDER BY ${key.map((c) => `t.${c}`).join(', ')}
      LIMIT ${SAMPLE_SIZE}`,
  );
  return { failures: Number(rows[0]?.failures ?? 0), label: label(key), values: rows.map((r) => formatKey(r, key.length)) };
}

async function runSingularTest(client: pg.ClientBase, test: SingularTest, refs: Placeholders): Promise<Finding> {
  const sql = renderSql(test.sql, refs, `singular test sql/${test.file}`);
  const { rows } = await client.query<{ failures: string; sample: string | null }>(
    `SELECT (count(*) OVER ())::text AS failures,
            (SELECT string_agg(e.key || '=' || coalesce(e.value, 'NULL'), ', ' ORDER BY e.n)
               FROM json_each_text(row_to_json(t)) WITH ORDINALITY AS e(key, value, n)) AS sample
       FROM (
${sql}
) AS t
      LIMIT ${SAMPLE_SIZE}`,
  );
  return { failures: Number(rows[0]?.failures ?? 0), values: rows.map((r) => r.sample ?? '(empty row)') };
}

function describeCheckError(err: unknown, check: string, table: string): Error {
  if (err instanceof InputError) return err;
  const pgErr = err as Error & { code?: string };
  const message = `quality check ${check} on ${table} could not run: ${pgErr.message}`;
  if (typeof pgErr.code === 'string' && pgErr.code.startsWith('42')) {
    return new InputError('ConfigError', message, { check, table, sqlstate: pgErr.code });
  }
  return new Error(message, { cause: err });
}

const plural = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

function describeFailure(result: GateCheckResult, finding: Finding): string {
  let sample = '';
  if (finding.values.length > 0) {
    sample = finding.label ? `${finding.label}=${finding.values.join(', ')}` : finding.values.join('; ');
    sample = `, e.g. ${sample}`;
  }
  return `${result.check} on ${result.table}: ${plural(result.failures)}${sample}`;
}

/**
 * Runs every generic test annotated in the layer's model files and every singular test of the layer, with the
 * run's parameters set (see ModelParams), so a test can restrict itself to the period a run loaded.
 * Returns all results when everything passes; otherwise throws InputError('QualityGateFailed') whose message
 * names each failed check, its table and up to five offending keys, with `details.checks` holding all results.
 */
export async function runLayerGates(
  pool: pg.Pool,
  dataset: DatasetSpec,
  layer: LayerSpec,
  params: GateParams = {},
  sqlDir: string = SQL_DIR,
): Promise<GateResult> {
  const started = Date.now();
  // Read and parse everything first: a malformed annotation fails before any query runs.
  const generic: { test: ModelTest; model: string }[] = [];
  for (const model of layer.models) {
    for (const test of parseModelTests(await readSqlFile(model.file, sqlDir), model.table)) generic.push({ test, model: model.name });
  }
  const singular: SingularTest[] = [];
  for (const file of layer.tests) singular.push(parseSingularTest(await readSqlFile(file, sqlDir), file));

  const checks: GateCheckResult[] = [];
  const failed: string[] = [];
  const record = (check: string, table: string, finding: Finding) => {
    const result: GateCheckResult = {
      check,
      table,
      passed: finding.failures === 0,
      failures: finding.failures,
      sample: finding.values.map((v) => (finding.label ? `${finding.label}=${v}` : v)),
    };
    if (finding.enforcedBy) result.enforcedBy = finding.enforcedBy;
    checks.push(result);
    if (!result.passed) failed.push(describeFailure(result, finding));
  };

  // Every model's generic tests, then every singular test: jobs on up to `connections` connections that share one
  // snapshot (src/db-snapshot.ts), recorded in this order whichever connection ran them. Singular tests read
  // gudang.period (setRunParams): a period run reconciles the month it loaded. No JIT for the checks (issue 14,
  // setRunParams): a check's row estimates are far off (a FULL JOIN that runs only on a difference is costed as if
  // it always ran), so PostgreSQL compiled and optimised hundreds of functions per query: 1.7 s of the 2.7 s the
  // staging reconciliation took at 1M lines, for a plan that then reads each table once.
  // Tables as of this run: what this run built (not yet published), else what is published; read once, on the
  // snapshot of the first job that asks.
  let refsRead: Promise<Placeholders> | undefined;
  const refsOn = (client: pg.ClientBase) => (refsRead ??= datasetPlaceholders(client, dataset, params.runTag ?? 'adhoc'));
  const keyCache = new Map<string, string[]>();
  type Job = (client: pg.ClientBase) => Promise<{ check: string; table: string; finding: Finding }[]>;
  const jobs: Job[] = [];
  for (const model of layer.models) {
    const tests = generic.filter((g) => g.model === model.name).map((g) => g.test);
    jobs.push(async (client) => {
      const refs = await refsOn(client);
      let findings: Map<ModelTest, Finding>;
      try {
        findings = await runModelTests(client, tests, refs.ref(model.name), refs, keyCache);
      } catch (err) {
        throw describeCheckError(err, tests.map((t) => t.check).join(', '), model.table);
      }
      return tests.map((test) => ({ check: test.check, table: test.table, finding: findings.get(test)! }));
    });
  }
  for (const test of singular) {
    jobs.push(async (client) => {
      const refs = await refsOn(client);
      try {
        return [{ check: test.check, table: test.table, finding: await runSingularTest(client, test, refs) }];
      } catch (err) {
        throw describeCheckError(err, test.check, test.table);
      }
    });
  }
  const done = await runOnSharedSnapshot(pool, jobs, { connections: params.connections ?? DEFAULT_GATE_CONNECTIONS, prepare: (client) => setRunParams(client, params) });
  for (const found of done.flat()) record(found.check, found.table, found.finding);

  if (failed.length > 0) {
    throw new InputError('QualityGateFailed', `quality gate failed after layer ${layer.name}: ${failed.join('; ')}`, {
      layer: layer.name,
      checks,
    });
  }
  return { layer: layer.name, checks, durationMs: Date.now() - started };
}
