import type * as mariadb from 'mariadb';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { InputError } from '../../errors';
import type { SourceDb, SourceDbKind } from '../../sources/database';

// Reading a table of a source database as CSV text, range of primary keys by range, with bounded memory:
//   PostgreSQL  COPY (SELECT ...) TO STDOUT WITH (FORMAT csv): the server writes CSV, we pass its blocks on
//   MariaDB     a streaming query (rows come off the socket one by one, never buffered as a whole result), each row
//               encoded as a CSV line
// Either way the blocks go through the very CSV fast path that file chunks use (validation, rejects, COPY into the
// landing table). Every value inlined into SQL is a checked identifier, a safe integer or a timestamp built here
// from a checked period: nothing comes from the run's input unchecked.

/** What one read selects: the table, the columns in staging order, and which rows. */
export interface ReadQuery {
  table: string;
  columns: readonly string[];
  key: string;
  /**
   * Numeric columns, printed without trailing zeros in the fraction (795000.00 as 795000, 12.50 as 12.5): the form
   * the CSV fast path takes. A DECIMAL(14,2) printed as the server prints it sent every row down the slow (zod)
   * path, 40 times slower.
   */
  trimScale?: readonly string[];
  /** Rows of one month only: by a column of the table, or through a parent row. */
  period?: { starts: string; ends: string; column?: string; via?: { table: string; foreignKey: string; key: string; column: string } };
  /**
   * The watermark column (DatabaseSourceSpec.watermarkColumn): the read takes rows above `above` (absent: every
   * row) up to `upTo` included (the highest value when the read was planned: a row that arrives meanwhile is left
   * for the next read, so the recorded watermark is exactly what was read).
   */
  watermark?: { column: string; above?: string; upTo?: string };
}

export interface KeyStats {
  min: number;
  max: number;
  count: number;
  /** Highest watermark among the selected rows (undefined: no watermark column or no rows). */
  watermark?: string;
}

export interface SourceConnection {
  readonly kind: SourceDbKind;
  /** Column names of the table, or undefined when there is no such table. */
  columns(table: string): Promise<string[] | undefined>;
  stats(q: ReadQuery): Promise<KeyStats>;
  /** Streams the rows with lo <= key < hi, ordered by key, as CSV lines (LF ends, NULL as an empty field). */
  readCsv(q: ReadQuery, lo: number, hi: number, onBlock: (block: Buffer) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

const quote = (kind: SourceDbKind, name: string) => (kind === 'postgres' ? `"${name.replace(/"/g, '""')}"` : `\`${name.replace(/`/g, '``')}\``);
// MariaDB reads a backslash in a string literal as an escape (unless NO_BACKSLASH_ESCAPES): doubled there
const literalFor = (kind: SourceDbKind) => (s: string) => `'${(kind === 'mariadb' ? s.replace(/\\/g, '\\\\') : s).replace(/'/g, "''")}'`;

function checkInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`key bound ${n} is not a safe integer`);
  return String(n);
}

/** The WHERE clause of a read (without the key range when lo/hi are undefined). */
export function whereClause(kind: SourceDbKind, q: ReadQuery, lo?: number, hi?: number): string {
  const id = (n: string) => quote(kind, n);
  const literal = literalFor(kind);
  const parts: string[] = [];
  if (lo !== undefined) parts.push(`t.${id(q.key)} >= ${checkInt(lo)}`);
  if (hi !== undefined) parts.push(`t.${id(q.key)} < ${checkInt(hi)}`);
  const p = q.period;
  if (p) {
    if (!/^\d{4}-\d{2}-\d{2} 00:00:00$/.test(p.starts) || !/^\d{4}-\d{2}-\d{2} 00:00:00$/.test(p.ends)) throw new Error('period bounds must be YYYY-MM-DD 00:00:00');
    if (p.column) parts.push(`t.${id(p.column)} >= ${literal(p.starts)} AND t.${id(p.column)} < ${literal(p.ends)}`);
    else if (p.via) {
      const v = p.via;
      parts.push(
        `EXISTS (SELECT 1 FROM ${id(v.table)} p WHERE p.${id(v.key)} = t.${id(v.foreignKey)} AND p.${id(v.column)} >= ${literal(p.starts)} AND p.${id(v.column)} < ${literal(p.ends)})`,
      );
    }
  }
  if (q.watermark?.above !== undefined) parts.push(`t.${id(q.watermark.column)} > ${literal(q.watermark.above)}`);
  if (q.watermark?.upTo !== undefined) parts.push(`t.${id(q.watermark.column)} <= ${literal(q.watermark.upTo)}`);
  return parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
}

function selectSql(kind: SourceDbKind, q: ReadQuery, lo: number, hi: number): string {
  const trim = new Set(q.trimScale ?? []);
  // PostgreSQL trims on the server (trim_scale, PostgreSQL 13+); MariaDB's decimals are trimmed as they arrive
  const cols = q.columns.map((c) => (kind === 'postgres' && trim.has(c) ? `trim_scale(t.${quote(kind, c)}::numeric)` : `t.${quote(kind, c)}`)).join(', ');
  return `SELECT ${cols} FROM ${quote(kind, q.table)} t ${whereClause(kind, q, lo, hi)} ORDER BY t.${quote(kind, q.key)}`;
}

function statsSql(kind: SourceDbKind, q: ReadQuery): string {
  // the highest watermark as the server prints it (PostgreSQL: as text, so a timestamp keeps its microseconds)
  const wm = q.watermark ? `, max(t.${quote(kind, q.watermark.column)})${kind === 'postgres' ? '::text' : ''}` : ', NULL';
  return `SELECT min(t.${quote(kind, q.key)}), max(t.${quote(kind, q.key)}), count(*)${wm} FROM ${quote(kind, q.table)} t ${whereClause(kind, q)}`;
}

/** Wrong password or unknown user: retrying cannot help. */
function accessError(db: SourceDb, err: unknown): unknown {
  const e = err as { code?: string; errno?: number; message?: string };
  const denied = e.code === '28P01' || e.code === '28000' || e.code === '3D000' || e.code === 'ER_ACCESS_DENIED_ERROR' || e.code === 'ER_BAD_DB_ERROR' || e.errno === 1045 || e.errno === 1049;
  if (!denied) return err;
  const where = `${db.kind}://${db.user}@${db.host}:${db.port}/${db.database}`;
  return new InputError('ConfigError', `source database ${where}: ${e.message ?? 'access denied'} (the password comes from the worker's GUDANG_SOURCE_DB_URL or GUDANG_SOURCE_DB_PASSWORD)`);
}

const stamp = (v: unknown): string | undefined => {
  if (v === null || v === undefined) return undefined;
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '');
  return String(v);
};

async function openPostgres(db: SourceDb): Promise<SourceConnection> {
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, application_name: 'gudang-source', connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a lost connection fails the query in flight
  try {
    await client.connect();
  } catch (err) {
    throw accessError(db, err);
  }
  // Text as PostgreSQL prints it in ISO style and UTC: what the CSV fast path reads without a detour through zod.
  await client.query(`SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET standard_conforming_strings = on; SET IntervalStyle = 'iso_8601'`);
  return {
    kind: 'postgres',
    async columns(table) {
      const { rows } = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      );
      return rows.length > 0 ? rows.map((r) => r.column_name) : undefined;
    },
    async stats(q) {
      const { rows } = await client.query({ text: statsSql('postgres', q), rowMode: 'array' });
      const r = rows[0] as unknown[];
      return { min: Number(r[0] ?? 0), max: Number(r[1] ?? -1), count: Number(r[2]), watermark: stamp(r[3]) };
    },
    async readCsv(q, lo, hi, onBlock) {
      const stream = client.query(copyTo(`COPY (${selectSql('postgres', q, lo, hi)}) TO STDOUT WITH (FORMAT csv)`));
      for await (const block of stream as AsyncIterable<Buffer>) await onBlock(block);
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

/** "795000.00" -> "795000", "12.50" -> "12.5", "-0.10" -> "-0.1" (a decimal as the server prints it). */
export function trimDecimal(s: string): string {
  if (!s.includes('.')) return s;
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === 48) e--;
  if (s.charCodeAt(e - 1) === 46) e--;
  return s.slice(0, e);
}

/** One value of a MariaDB row as a CSV field (NULL: empty; text quoted when it has to be). */
function csvValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '');
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return s === '' || /[",\r\n]/.test(s) || s === '\\.' ? `"${s.replace(/"/g, '""')}"` : s;
}

async function openMariadb(db: SourceDb): Promise<SourceConnection> {
  let conn: mariadb.Connection;
  try {
    // the MariaDB driver is loaded on first use: a worker with no MariaDB source does not hold it (about 20 MiB)
    const { createConnection } = await import('mariadb');
    conn = await createConnection({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
      database: db.database,
      connectTimeout: 10_000,
      // values as the server prints them: what the CSV fast path reads (no time-zone shifts, no float rounding)
      dateStrings: true,
      decimalAsNumber: false,
      bigIntAsNumber: false,
      timezone: '+00:00',
    });
  } catch (err) {
    throw accessError(db, err);
  }
  return {
    kind: 'mariadb',
    async columns(table) {
      const rows = await conn.query<{ c: string }[]>(
        `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = database() AND table_name = ? ORDER BY ordinal_position`,
        [table],
      );
      return rows.length > 0 ? rows.map((r) => r.c) : undefined;
    },
    async stats(q) {
      const rows = await conn.query<unknown[][]>({ sql: statsSql('mariadb', q), rowsAsArray: true });
      const r = rows[0]!;
      return { min: Number(r[0] ?? 0), max: Number(r[1] ?? -1), count: Number(r[2]), watermark: stamp(r[3]) };
    },
    async readCsv(q, lo, hi, onBlock) {
      const stream = conn.queryStream({ sql: selectSql('mariadb', q, lo, hi), rowsAsArray: true });
      const trim = q.columns.map((c) => (q.trimScale ?? []).includes(c));
      let text = '';
      try {
        for await (const row of stream as AsyncIterable<unknown[]>) {
          let line = '';
          for (let k = 0; k < row.length; k++) {
            const v = row[k];
            line += (k > 0 ? ',' : '') + (trim[k] && typeof v === 'string' ? trimDecimal(v) : csvValue(v));
          }
          text += line + '\n';
          if (text.length >= 256 * 1024) {
            await onBlock(Buffer.from(text, 'utf8'));
            text = '';
          }
        }
      } finally {
        // an early exit must not leave the rest of the result on the socket
        if (!stream.destroyed) stream.destroy();
      }
      if (text) await onBlock(Buffer.from(text, 'utf8'));
    },
    async close() {
      await conn.end().catch(() => conn.destroy());
    },
  };
}

export async function openSource(db: SourceDb): Promise<SourceConnection> {
  return db.kind === 'postgres' ? openPostgres(db) : openMariadb(db);
}

/** Runs fn with a connection to the source database, closed afterwards. */
export async function withSource<T>(db: SourceDb, fn: (source: SourceConnection) => Promise<T>): Promise<T> {
  const source = await openSource(db);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}
