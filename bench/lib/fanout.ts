import { stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { SourceSpec } from '../../src/sources/types';
import { settle } from './db';
import { prepareStaging, projectIngest } from './ingest';
import { loadAvg1 } from './proc';

export interface FanoutSample {
  chunks: number;
  concurrency: number;
  chunkBytes: number;
  repeat: number;
  ms: number;
  rows: number;
  peakRssKiB: number;
  cpuMs: number;
  loadAvg: number;
}

export interface FanoutResults {
  available: boolean;
  note?: string;
  engine?: string;
  fileBytes?: number;
  samples: FanoutSample[];
}

export const FANOUT_CHUNKS = [1, 2, 4];
export const FANOUT_CONCURRENCY = [1, 2];

/**
 * The file split into 1, 2 and 4 byte-range chunks, loaded 1 and 2 at a time, by the ingest engine
 * (the ingest activities in-process, GUDANG_CHUNK_BYTES in the environment as well).
 */
export async function benchFanout(o: {
  pool: pg.Pool;
  url: string;
  spec: SourceSpec;
  dir: string;
  repeats: number;
  expectedRows: number;
  log: (msg: string) => void;
}): Promise<FanoutResults> {
  const fileBytes = (await stat(path.join(o.dir, o.spec.file))).size;
  await prepareStaging(o.pool, o.spec);
  const samples: FanoutSample[] = [];
  for (let r = 0; r < o.repeats; r++) {
    for (const chunks of FANOUT_CHUNKS) {
      for (const concurrency of FANOUT_CONCURRENCY) {
        if (chunks === 1 && concurrency > 1) continue;
        const chunkBytes = Math.ceil(fileBytes / chunks);
        await o.pool.query(`TRUNCATE staging.${o.spec.name}`);
        await settle(o.pool);
        const loadAvg = loadAvg1();
        const { result } = await projectIngest({
          url: o.url,
          spec: o.spec,
          dir: o.dir,
          chunkBytes,
          concurrency,
          env: { GUDANG_CHUNK_BYTES: String(chunkBytes) },
        });
        if (result.rowsLoaded !== o.expectedRows) throw new Error(`fan-out ${chunks}x${concurrency}: ${result.rowsLoaded} rows, expected ${o.expectedRows}`);
        samples.push({
          chunks,
          concurrency,
          chunkBytes,
          repeat: r,
          ms: result.ingestMs,
          rows: result.rowsLoaded,
          peakRssKiB: result.peakRssKiB,
          cpuMs: result.cpuUserMs + result.cpuSystemMs,
          loadAvg,
        });
        o.log(`fan-out ${r + 1}/${o.repeats} ${chunks} chunk(s) x concurrency ${concurrency}: ${(result.ingestMs / 1000).toFixed(2)} s (load ${loadAvg})`);
      }
    }
  }
  return { available: true, engine: 'the ingest activities in-process', fileBytes, samples };
}
