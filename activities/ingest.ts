import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../src/config';
import type { LoadResult } from '../src/contracts';
import { getDataset } from '../src/datasets';
import type { Pool } from '../src/db';
import type { ChunkResult } from '../src/ingest/chunk';
import { LoadNotActiveError, loadChunk } from '../src/ingest/chunk';
import { loadSource } from '../src/ingest/load';
import { planLoad, readPlan } from '../src/ingest/plan';
import { ensurePlannedCopy, releasePlannedCopy } from '../src/sources/remote';
import { planDbLoad } from '../src/ingest/db/read';
import { discardLoad, publishLoad } from '../src/ingest/publish';
import { relationsOf } from '../src/ingest/relations';
import type { SourceSpec } from '../src/sources/types';
import { failFastOnBadInput, heartbeating } from './common';

// Ingest activities. A file is loaded in three steps (workflows/ingest.ts): planLoad (path, header, hash, chunk
// plan, empty landing table), loadChunk per byte range (side by side, each resumable from its committed batch),
// publishLoad (primary key, duplicates, reject budget, swap into staging). Inputs and outputs are names, offsets
// and counts only; the plan itself lives in ops.load_plans / ops.load_chunks.

export interface LoadSourceInput {
  dataset: string;
  source: string;
  sourceDir: string;
  /** The run's reject budget override: "N" or "P%". */
  rejectBudget?: string;
  allowEmpty?: boolean;
}

/** Identifies one load: (run, source). */
export interface LoadRef {
  dataset: string;
  source: string;
  /** The workflow run the load belongs to. */
  runId: string;
  workflowId?: string;
}

export interface PlanLoadInput extends LoadRef {
  sourceDir: string;
  rejectBudget?: string;
  /** Source database locator (URL without password): a database-capable source is read from its table there. */
  sourceDb?: string;
  /** With sourceDb: read only this month's rows. */
  period?: string;
}

export interface PlannedLoad {
  source: string;
  file: string;
  sha256: string;
  sizeBytes: number;
  /** Chunk numbers, one loadChunk each. */
  chunks: number[];
  rejectBudget: string;
}

export interface PublishLoadInput extends LoadRef {
  /** Let a source with no rows empty its staging table; otherwise such a load fails naming the file. */
  allowEmpty?: boolean;
  /**
   * Check the dataset's relations in which this source is the child (quarantine children of rejected parents, count
   * orphans): set by runs that publish parents before children.
   */
  relations?: boolean;
}

export interface LoadChunkInput extends LoadRef {
  chunk: number;
}

export type PublishLoadOutput = { status: 'published'; result: LoadResult } | { status: 'reload'; reason: string };

export interface IngestSettings {
  /** GUDANG_SOURCE_ROOT */
  sourceRoot?: string;
  /** GUDANG_CHUNK_BYTES */
  chunkBytes?: number;
  /** GUDANG_DB_CHUNK_ROWS: rows per chunk of a database read. */
  dbChunkRows?: number;
  /** Sources of no dataset, found by name before the datasets' (the benchmark's own files). */
  sources?: readonly SourceSpec[];
}

function specOf(dataset: string, source: string, extra: readonly SourceSpec[] = []): SourceSpec {
  const spec = extra.find((s) => s.name === source) ?? getDataset(dataset).sources.find((s) => s.name === source);
  if (!spec) throw ApplicationFailure.nonRetryable(`dataset ${dataset} has no source "${source}"`, 'UnknownDataset');
  return spec;
}

/**
 * A remote file's planned copy on this worker: fetched again (and its planned sha256 checked) when this worker did not
 * plan the load or its cache dropped the copy. Local files are left alone.
 */
async function ensureFile(pool: Pool, runId: string, source: string, beat: (details: unknown) => void): Promise<void> {
  const plan = await readPlan(pool, runId, source);
  if (!plan?.remoteSourceDir || plan.status !== 'loading') return;
  await ensurePlannedCopy(
    { sourceDir: plan.remoteSourceDir, file: plan.file, format: plan.format, path: plan.path, sizeBytes: plan.sizeBytes, mtimeMs: plan.mtimeMs, sha256: plan.sha256 },
    { heartbeat: beat, signal: Context.current().cancellationSignal },
  );
}

/** Removes this worker's cached copy of a remote file once its load is over. */
async function releaseFile(pool: Pool, runId: string, source: string): Promise<void> {
  const plan = await readPlan(pool, runId, source);
  if (plan?.remoteSourceDir && plan.status !== 'loading') await releasePlannedCopy(plan.path);
}

export function createIngestActivities(pool: Pool, settings?: IngestSettings) {
  const config: IngestSettings = settings ?? (() => {
    const c = loadConfig();
    return { sourceRoot: c.GUDANG_SOURCE_ROOT, chunkBytes: c.GUDANG_CHUNK_BYTES, dbChunkRows: c.GUDANG_DB_CHUNK_ROWS };
  })();

  return {
    /** The whole load in one activity (runLoad in-process): runs started before the fan-out replay with it. */
    async loadSource(input: LoadSourceInput): Promise<LoadResult> {
      return failFastOnBadInput(() =>
        heartbeating(async (beat) => {
          const ctx = Context.current();
          const { runId: _runId, reloads: _reloads, ...result } = await loadSource(pool, specOf(input.dataset, input.source, config.sources), input.sourceDir, {
            runId: ctx.info.workflowExecution?.runId ?? ctx.info.activityId,
            workflowId: ctx.info.workflowExecution?.workflowId ?? '',
            dataset: input.dataset,
            rejectBudget: input.rejectBudget,
            sourceRoot: config.sourceRoot,
            chunkBytes: config.chunkBytes,
            allowEmpty: input.allowEmpty,
            heartbeat: beat,
          });
          return result;
        }),
      );
    },

    async planLoad(input: PlanLoadInput): Promise<PlannedLoad> {
      return failFastOnBadInput(() =>
        heartbeating(async (beat) => {
          const spec = specOf(input.dataset, input.source, config.sources);
          const opts = {
            runId: input.runId,
            workflowId: input.workflowId,
            dataset: input.dataset,
            rejectBudget: input.rejectBudget,
            chunkBytes: config.chunkBytes,
            sourceRoot: config.sourceRoot,
            heartbeat: beat,
          };
          // a source kind is a reader, not a workflow: the same plan, with key ranges where a file has byte ranges
          const plan =
            input.sourceDb && spec.database
              ? await planDbLoad(pool, spec, { ...opts, sourceDb: input.sourceDb, period: input.period, chunkRows: config.dbChunkRows })
              : await planLoad(pool, spec, input.sourceDir, opts);
          return {
            source: plan.source,
            file: plan.file,
            sha256: plan.sha256,
            sizeBytes: plan.sizeBytes,
            chunks: plan.chunks.map((c) => c.chunk),
            rejectBudget: plan.rejectBudget,
          };
        }),
      );
    },

    /** One chunk; on a retry it carries on from the chunk's last committed batch (ops.load_chunks). */
    async loadChunk(input: LoadChunkInput): Promise<ChunkResult> {
      return failFastOnBadInput(() =>
        heartbeating(async (beat) => {
          const ctx = Context.current();
          // The database checkpoint is the truth; the last heartbeat of the failed attempt only tells the log where it was.
          const previous = ctx.info.heartbeatDetails as { committedRows?: number } | undefined;
          if (previous?.committedRows) ctx.log.info(`chunk ${input.chunk} of ${input.source}: retry after ${previous.committedRows} committed rows`);
          try {
            await ensureFile(pool, input.runId, input.source, beat);
            return await loadChunk(pool, specOf(input.dataset, input.source, config.sources), input.runId, input.chunk, {
              heartbeat: beat,
              signal: ctx.cancellationSignal,
            });
          } catch (err) {
            // the load was discarded (another chunk failed it): stop, do not retry
            if (err instanceof LoadNotActiveError) throw ApplicationFailure.nonRetryable(err.message, 'LoadNotActive');
            throw err;
          }
        }),
      );
    },

    async publishLoad(input: PublishLoadInput): Promise<PublishLoadOutput> {
      return failFastOnBadInput(() =>
        heartbeating(async (beat) => {
          const outcome = await publishLoad(pool, specOf(input.dataset, input.source, config.sources), input.runId, {
            workflowId: input.workflowId,
            heartbeat: beat,
            allowEmpty: input.allowEmpty,
            relations: input.relations ? relationsOf(getDataset(input.dataset), input.source) : undefined,
          });
          if (outcome.status === 'published') await releaseFile(pool, input.runId, input.source);
          return outcome.status === 'published' ? { status: 'published', result: outcome.result } : { status: 'reload', reason: outcome.reason };
        }),
      );
    },

    /** Drops the landing table of a load that failed (its rejected rows stay in ops.rejected_rows). */
    async discardLoad(input: LoadRef): Promise<boolean> {
      const discarded = await discardLoad(pool, input.runId, input.source);
      await releaseFile(pool, input.runId, input.source);
      return discarded;
    },
  };
}
