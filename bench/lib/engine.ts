import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Pool } from '../../src/db';
import type { SourceSpec } from '../../src/sources/types';

/** The fast ingest engine's programmatic API, as far as the benchmark relies on it. */
export type IngestFileFn = (
  pool: Pool,
  spec: SourceSpec,
  sourceDir: string,
  opts: Record<string, unknown>,
) => Promise<{ rowsRead: number; rowsLoaded: number; rowsRejected: number; timings?: unknown }>;

const INGEST_DIR = fileURLToPath(new URL('../../src/ingest/', import.meta.url));

/**
 * Finds `ingestFile` exported by a module of src/ingest/ (the engine is being built in parallel; its module
 * name is not fixed yet). Returns undefined when none exports it: the benchmark then uses loadSource.
 */
export async function findIngestEngine(): Promise<{ name: string; ingestFile: IngestFileFn } | undefined> {
  let files: string[];
  try {
    files = (await readdir(INGEST_DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
    // engine.ts first: importing every module of src/ingest is only the fallback
    files.sort((a, b) => Number(b === 'engine.ts') - Number(a === 'engine.ts'));
  } catch {
    return undefined;
  }
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(INGEST_DIR, file)).href)) as Record<string, unknown>;
    if (typeof mod.ingestFile === 'function') return { name: `ingestFile (src/ingest/${file})`, ingestFile: mod.ingestFile as IngestFileFn };
  }
  return undefined;
}
