import { InputError } from '../errors';

// Source databases (the shop's PostgreSQL or MariaDB), named by URL. What travels through Temporal (workflow input,
// activity input, schedule action, history) and what is written to ops.* is the *locator*: the URL without its
// password. The password never leaves the worker's environment: the worker finds it in GUDANG_SOURCE_DB_URL (when
// that URL names the same server, user and database) or in GUDANG_SOURCE_DB_PASSWORD.

export type SourceDbKind = 'postgres' | 'mariadb';

export const SOURCE_DB_KINDS: readonly SourceDbKind[] = ['postgres', 'mariadb'];

const SCHEMES: Record<string, SourceDbKind> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mariadb:': 'mariadb',
  'mysql:': 'mariadb',
};

const DEFAULT_PORT: Record<SourceDbKind, number> = { postgres: 5432, mariadb: 3306 };

export interface SourceDb {
  kind: SourceDbKind;
  host: string;
  port: number;
  user: string;
  database: string;
  /** Only ever set on the worker, from its environment; never part of a locator. */
  password?: string;
}

function configError(message: string): InputError {
  return new InputError('ConfigError', message);
}

/** Parses a source database URL (postgres://, postgresql://, mariadb://, mysql://). Errors never echo a password. */
export function parseSourceDbUrl(url: string): SourceDb {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw configError('source database URL is not a URL: expected postgres://user@host:port/database or mariadb://user@host:port/database');
  }
  const kind = SCHEMES[u.protocol];
  if (!kind) throw configError(`source database URL has scheme "${u.protocol}": expected postgres:// or mariadb:// (mysql:// is taken as MariaDB)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) throw configError(`source database URL ${locatorOf({ kind, host: u.hostname, port: Number(u.port) || DEFAULT_PORT[kind], user: decodeURIComponent(u.username), database })} must name one database`);
  if (!u.hostname) throw configError('source database URL has no host');
  return {
    kind,
    host: u.hostname,
    port: Number(u.port) || DEFAULT_PORT[kind],
    user: decodeURIComponent(u.username) || (kind === 'postgres' ? 'postgres' : 'root'),
    database,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

function locatorOf(db: Omit<SourceDb, 'password'>): string {
  const user = encodeURIComponent(db.user);
  return `${db.kind}://${user}@${db.host}:${db.port}/${encodeURIComponent(db.database)}`;
}

/** The URL without its password, in one canonical spelling: what workflows, schedules, ops.* and logs may carry. */
export function sourceDbLocator(url: string): string {
  return locatorOf(parseSourceDbUrl(url));
}

/** True when the URL carries a password (the client strips it and says so). */
export function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

const sameServer = (a: SourceDb, b: SourceDb) => a.kind === b.kind && a.host === b.host && a.port === b.port && a.user === b.user && a.database === b.database;

/**
 * On the worker: the connection settings for a locator, with the password from the worker's environment.
 * A locator that carries a password is refused: it has already been written to workflow history.
 */
export function resolveSourceDb(locator: string, env: NodeJS.ProcessEnv = process.env): SourceDb {
  if (hasPassword(locator)) {
    throw configError(`source database ${sourceDbLocator(locator)}: the run's input carries a password; give passwords to the worker (GUDANG_SOURCE_DB_URL or GUDANG_SOURCE_DB_PASSWORD), never to a run`);
  }
  const db = parseSourceDbUrl(locator);
  for (const candidate of (env.GUDANG_SOURCE_DB_URL ?? '').split(/\s+/).filter(Boolean)) {
    let configured: SourceDb;
    try {
      configured = parseSourceDbUrl(candidate);
    } catch {
      continue;
    }
    if (sameServer(configured, db) && configured.password !== undefined) return { ...db, password: configured.password };
  }
  return env.GUDANG_SOURCE_DB_PASSWORD ? { ...db, password: env.GUDANG_SOURCE_DB_PASSWORD } : db;
}

/** A table of a source database, as people see it in messages and in ops.loads: "<locator> table <name>". */
export function describeSourceTable(locator: string, table: string): string {
  return `${sourceDbLocator(locator)} table ${table}`;
}
