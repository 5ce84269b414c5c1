import { InputError } from '../errors';

/** Identifiers spliced into generated SQL (tables, columns): plain lower-case, optionally schema-qualified. */
export const IDENTIFIER = /^[a-z_][a-z0-9_.]*$/;

export function assertIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name) || name.includes('..') || name.endsWith('.')) {
    throw new InputError('ConfigError', `${what} ${JSON.stringify(name)} is not a plain lower-case identifier`);
  }
  return name;
}

// Model SQL as text: dbt-style placeholders, and finding a model's DDL statement. No database access here.
//
//   {{ this }}               the table this model writes in this run (a build table, published at the end of the run)
//   {{ prior }}              the last published version of this model's own table (stateful models: new = prior + changes)
//   {{ ref('model') }}       another model's table of the same dataset as of this run: built in this run if it was,
//                            else the published one
//   {{ source('source') }}   the dataset's staging table for that source
//   {{ published('model') }} another model's published table (what readers see now, before this run publishes), or an
//                            empty relation of its columns when it has never been published

/** What each placeholder resolves to; a resolver throws a ConfigError for a name it does not know. */
export interface Placeholders {
  this?: string;
  prior?: string;
  ref(model: string): string;
  source(source: string): string;
  /** Absent where only ref and source are known (then {{ published() }} is a ConfigError). */
  published?(model: string): string;
}

// A line comment is matched too, and left alone: placeholders in comments are documentation, not SQL.
const PLACEHOLDER = /--[^\n]*|\{\{\s*(.*?)\s*\}\}/g;
const NAME_CALL = /^(ref|source|published)\(\s*'([a-z_][a-z0-9_]*)'\s*\)$/;

/** 1-based line of a 0-based character offset. */
export function lineAt(text: string, offset: number): number {
  return text.slice(0, Math.max(0, offset)).split('\n').length;
}

/**
 * Replaces every `{{ ... }}` of `sql` outside `--` comments with what `values` resolves it to. `where` names the file in errors.
 * An unknown placeholder, or one this kind of file may not use (`values.this` undefined), is a ConfigError naming
 * the file and line.
 */
export function renderSql(sql: string, values: Placeholders, where: string): string {
  return sql.replace(PLACEHOLDER, (whole: string, expr: string | undefined, offset: number) => {
    if (expr === undefined) return whole;
    const fail = (why: string) => new InputError('ConfigError', `${where} line ${lineAt(sql, offset)}: ${whole} ${why}`);
    if (expr === 'this' || expr === 'prior') {
      const value = values[expr];
      if (value === undefined) throw fail(`cannot be used here (only in a model's own SQL)`);
      return value;
    }
    const call = NAME_CALL.exec(expr);
    if (!call) throw fail(`is not a known placeholder (known: {{ this }}, {{ prior }}, {{ ref('model') }}, {{ published('model') }}, {{ source('source') }})`);
    if (call[1] === 'published' && !values.published) throw fail('cannot be used here');
    try {
      if (call[1] === 'published') return values.published!(call[2]!);
      return call[1] === 'ref' ? values.ref(call[2]!) : values.source(call[2]!);
    } catch (err) {
      if (err instanceof InputError) throw fail(err.message);
      throw err;
    }
  });
}

/** The models `sql` names with {{ ref('model') }} outside comments, each once, in order of first use. */
export function refsOf(sql: string): string[] {
  const names = new Set<string>();
  for (const m of sql.matchAll(PLACEHOLDER)) {
    const call = m[1] === undefined ? null : NAME_CALL.exec(m[1]);
    if (call?.[1] === 'ref') names.add(call[2]!);
  }
  return [...names];
}

/** A statement of a SQL script: its text and where it starts, so messages can name the file's line. */
export interface Statement {
  text: string;
  start: number;
  end: number;
}

/**
 * Splits a script into statements at top-level semicolons, skipping quoted strings, quoted identifiers, comments
 * and dollar-quoted bodies. Good enough for model files; not a SQL parser.
 */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    if (sql.slice(start, end).replace(/--[^\n]*/g, '').trim() !== '') out.push({ text: sql.slice(start, end), start, end });
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c ? 2 : 1;
      i = j + 1;
    } else if (c === '$') {
      const tag = /^\$[a-z_0-9]*\$/i.exec(sql.slice(i))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? sql.length : close + tag.length;
      } else i++;
    } else if (c === ';') {
      push(i);
      i++;
    } else i++;
  }
  push(sql.length);
  return out;
}

const DDL = /^\s*(?:--[^\n]*\n\s*)*create\s+table\s+(?:if\s+not\s+exists\s+)?\{\{\s*this\s*\}\}\s*\(/i;

/**
 * The model's DDL: its `CREATE TABLE {{ this }} (...)` statement, which the runner executes itself (to build the
 * run's table, and to create {{ prior }} empty when the model has never been published). The rest of the script
 * is returned with the DDL blanked out (line breaks kept, so error lines still match the file).
 */
export function splitModelDdl(sql: string, file: string): { ddl: string; body: string; ddlLine: number } {
  const ddl = splitStatements(sql).find((s) => DDL.test(s.text));
  if (!ddl) {
    throw new InputError('ConfigError', `model sql/${file} has no "CREATE TABLE {{ this }} (...)" statement: every model declares its table`);
  }
  const blank = sql.slice(ddl.start, ddl.end + 1).replace(/[^\n]/g, ' ');
  return {
    ddl: ddl.text.replace(/(create\s+table\s+)if\s+not\s+exists\s+(\{\{)/i, '$1$2'),
    body: sql.slice(0, ddl.start) + blank + sql.slice(ddl.end + 1),
    ddlLine: lineAt(sql, ddl.start),
  };
}
