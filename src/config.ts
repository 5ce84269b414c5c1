import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from './contracts';

// Configuration is read from the environment once, validated, and frozen.
// Every variable is listed in the README's configuration section.

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Connections a quality gate runs its checks on at once, unless GUDANG_GATE_CONNECTIONS says otherwise. Most checks
 * are single-process sorts or scans; two side by side use a second core (issue 14).
 */
export const DEFAULT_GATE_CONNECTIONS = 2;

const schema = z.object({
  DATABASE_URL: z.string().url().optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  TEMPORAL_UI_URL: z.string().url().default('http://localhost:8233'),
  GUDANG_DATASET: z.string().min(1).default('django-apparel'),
  GUDANG_MAX_CONCURRENT_ACTIVITIES: positiveInt(4),
  GUDANG_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt(10),
  GUDANG_DB_POOL_SIZE: positiveInt(8),
  /** Connections one quality gate runs its checks on at once, sharing one snapshot (1: one after another). */
  GUDANG_GATE_CONNECTIONS: positiveInt(DEFAULT_GATE_CONNECTIONS),
  /** Workflows one worker keeps cached (in its workflow context) between their tasks; more are replayed on demand. */
  GUDANG_MAX_CACHED_WORKFLOWS: positiveInt(100),
  GUDANG_WORKFLOW_BUNDLE: z.string().optional(),
  GUDANG_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** When set, source directories and files must resolve (symlinks followed) inside this directory. */
  GUDANG_SOURCE_ROOT: z.string().min(1).optional(),
  /** Target size of the byte ranges a large CSV file is loaded in, by parallel activities (default 64 MiB). */
  GUDANG_CHUNK_BYTES: positiveInt(64 * 1024 * 1024),
  /**
   * Source database (the shop's PostgreSQL or MariaDB): the client's default --source-db (sent without its password),
   * and on the worker where the password for a run's source database comes from (same host, port, user, database).
   */
  GUDANG_SOURCE_DB_URL: z.string().min(1).optional(),
  /** Password for source databases whose URL in GUDANG_SOURCE_DB_URL does not carry one. */
  GUDANG_SOURCE_DB_PASSWORD: z.string().optional(),
  /** Rows per chunk activity when a source is read from a database table (default 1,000,000). */
  GUDANG_DB_CHUNK_ROWS: positiveInt(1_000_000),
});

export type Config = Readonly<z.infer<typeof schema>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

export function requireDatabaseUrl(config: Config): string {
  if (!config.DATABASE_URL) {
    throw new Error('DATABASE_URL is not set (e.g. postgres://user@127.0.0.1:5432/gudang); `npm run demo` starts its own database when it is unset');
  }
  return config.DATABASE_URL;
}

/** A URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
