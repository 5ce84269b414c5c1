import { InputError } from '../errors';
import { assertIdentifier, IDENTIFIER } from './sql-text';

// ---------------------------------------------------------------------------------------------------------
// Generic tests, declared as annotation comments in a model file, one per line:
//
//   -- test: unique(col[, col...])                        no two rows share these values (NULLs compare equal)
//   -- test: not_null(col[, col...])                      none of these columns is NULL
//   -- test: relationship(col -> ref('model').col)        every non-NULL value exists in the parent column, the
//                                                         model's table as of this run ({{ ref() }} in SQL terms)
//   -- test: relationship(col -> schema.table.col)        the same against a fixed table
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
  /**
   * relationship: the parent and its column. `model` set: the parent is that model's table as of the run
   * (`ref('model').column`, resolved by the gate); else `table` is a schema-qualified table.
   */
  references?: { table: string; column: string; model?: string };
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
        const rel = /^([a-z_][a-z0-9_]*)\s*->\s*(?:ref\(\s*'([a-z_][a-z0-9_]*)'\s*\)|([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*))\.([a-z_][a-z0-9_]*)$/.exec(args);
        if (!rel) throw bad(table, line, "expected relationship(column -> ref('model').column) or relationship(column -> schema.table.column)");
        const [, column, model, parent, parentColumn] = rel as unknown as [string, string, string | undefined, string | undefined, string];
        const target = model ? `ref('${model}')` : parent!;
        tests.push({
          kind,
          check: `relationship(${column} -> ${target}.${parentColumn})${suffix}`,
          table,
          columns: [column],
          references: model ? { table: target, column: parentColumn, model } : { table: target, column: parentColumn },
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
