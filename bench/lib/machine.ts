import { readFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';

export interface MachineInfo {
  hostname: string;
  nproc: number;
  cpuModel: string;
  memTotalMiB: number;
  kernel: string;
  node: string;
  loadAvgAtStart: number[];
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux
  }
  return {
    hostname: os.hostname(),
    nproc: os.availableParallelism(),
    cpuModel,
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export const PG_SETTINGS = [
  'shared_buffers',
  'wal_level',
  'synchronous_commit',
  'max_wal_size',
  'fsync',
  'full_page_writes',
  'wal_buffers',
  'checkpoint_timeout',
  'work_mem',
  'maintenance_work_mem',
  'effective_cache_size',
  'max_parallel_workers_per_gather',
  'jit',
  'autovacuum',
] as const;

export interface PostgresInfo {
  version: string;
  settings: Record<string, string>;
}

export async function postgresInfo(pool: pg.Pool): Promise<PostgresInfo> {
  const v = await pool.query<{ version: string }>('SELECT version()');
  const s = await pool.query<{ name: string; setting: string }>(
    `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name`,
    [PG_SETTINGS],
  );
  return { version: v.rows[0]!.version, settings: Object.fromEntries(s.rows.map((r) => [r.name, r.setting])) };
}
