import type { Client } from '@temporalio/client';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectClient, ensureSearchAttributes } from '../client';
import { loadConfig } from '../config';
import type { Config } from '../config';
import { datasetNames, getDataset } from '../datasets';
import { isPeriod } from '../contracts';
import { parseRejectBudget } from '../ingest/budget';
import { hasPassword, sourceDbLocator } from '../sources/database';
import { EXIT, ExitError, UsageError, isUnavailable } from './exit';

export { EXIT, ExitError, UsageError, isParseError, isUnavailable } from './exit';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the source files are when --source is not given: $GUDANG_SOURCE_DIR, else the dataset's own sample folder. */
export function defaultSourceDir(dataset: string): string {
  return process.env.GUDANG_SOURCE_DIR || path.join(ROOT, getDataset(dataset).defaultSource);
}

/**
 * --source-db (else $GUDANG_SOURCE_DB_URL) as the locator a run carries: the URL without its password. A password in
 * the URL is not sent (it would be written to workflow history): the worker takes it from its own environment.
 */
export function sourceDbOption(value: string | undefined, cfg: Config, command: string): string | undefined {
  const url = value ?? cfg.GUDANG_SOURCE_DB_URL;
  if (url === undefined) return undefined;
  let locator: string;
  try {
    locator = sourceDbLocator(url);
  } catch (err) {
    throw new UsageError(`${command}: --source-db: ${(err as Error).message}`);
  }
  if (hasPassword(url)) console.error(`${command}: the password in the source database URL is not sent with the run; the worker reads it from GUDANG_SOURCE_DB_URL or GUDANG_SOURCE_DB_PASSWORD`);
  return locator;
}

export function config(): Config {
  return loadConfig();
}

/**
 * Connects to Temporal and makes sure the namespace has gudang's search attributes (registering them as the worker
 * does), so a command against a plain server (no worker has run yet) works instead of failing on the first start.
 */
export async function connect(cfg: Config): Promise<Client> {
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch (err) {
    throw new ExitError(
      EXIT.unavailable,
      `cannot reach Temporal at ${cfg.TEMPORAL_ADDRESS}: ${(err as Error).message}. Start it (npm run demo -- --keep-open, or ` +
        `temporal server start-dev) or set TEMPORAL_ADDRESS to where it runs`,
    );
  }
  try {
    const added = await ensureSearchAttributes(client.connection, cfg.TEMPORAL_NAMESPACE);
    if (added.length > 0) console.error(`registered gudang's search attributes ${added.join(', ')} in namespace ${cfg.TEMPORAL_NAMESPACE}`);
  } catch (err) {
    if (isUnavailable(err)) throw new ExitError(EXIT.unavailable, `cannot reach Temporal at ${cfg.TEMPORAL_ADDRESS}: ${(err as Error).message}`);
    throw new ExitError(EXIT.runFailed, (err as Error).message);
  }
  return client;
}

export function checkDataset(dataset: string, command: string): string {
  if (!datasetNames().includes(dataset)) throw new UsageError(`${command}: unknown dataset "${dataset}" (known: ${datasetNames().join(', ')})`);
  return dataset;
}

export function checkPeriod(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isPeriod(value)) throw new UsageError(`${option} "${value}" is not a month: expected YYYY-MM, e.g. 2022-03`);
  return value;
}

/** A reject budget option ("N" or "P%"), checked before anything is started. */
export function checkRejectBudget(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    parseRejectBudget(value, option);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return value;
}

export function positiveInt(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${option} "${value}" is not a positive whole number`);
  return Number(value);
}

/** One positional argument, exactly. */
export function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command}: ${what} is required`);
  if (positionals.length > 1) throw new UsageError(`${command}: unexpected argument "${positionals[1]}"`);
  return positionals[0]!;
}

/** "2026-11-22 03:03:30" in the given zone (UTC by default): sortable, unambiguous in a log file. */
export function formatTime(date: Date | string | null | undefined, timeZone = 'UTC'): string {
  if (date === null || date === undefined) return '';
  const d = typeof date === 'string' ? new Date(date) : date;
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(d);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const day = 86_400_000;
  if (ms >= day && ms % day === 0) return `${ms / day} day${ms === day ? '' : 's'}`;
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m} min ${s} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
