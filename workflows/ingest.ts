import { ApplicationFailure, CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ACTIVITY_OPTIONS } from '../src/contracts';
import type { LoadResult } from '../src/contracts';
import { runLoad } from './load-steps';

// How one source gets into staging. The pipeline calls ingestSource once per source; how the load is split is
// this module's business alone:
//
//   planLoad      path, header, sha256, chunk plan (byte ranges cut at record starts), empty landing table
//   loadChunk ×N  side by side (as many at once as the workers run activities); each commits batch by batch and,
//                 retried, carries on from its last committed batch
//   publishLoad   primary key, duplicates, reject budget, swap into staging.<source>, ops.loads
//
// The order of the steps (and the reload, and the cleanup) is runLoad's (load-steps.ts), shared with the in-process
// loader; this module says how each step runs here: as an activity.
//
// Only names, numbers and offsets travel through the history; rows never do.

// Runs started before the fan-out existed loaded each source with one activity (loadSource); they replay that way.
const { planLoad, loadChunk, publishLoad, loadSource } = proxyActivities<Activities>(ACTIVITY_OPTIONS.load);
const { discardLoad } = proxyActivities<Activities>(ACTIVITY_OPTIONS.cleanup);

export interface IngestSourceInput {
  dataset: string;
  source: string;
  sourceDir: string;
  /** The run's reject budget override: "N" rows or "P%" of rows read; default the source's own. */
  rejectBudget?: string;
  /** Let a source with no rows empty its staging table (otherwise publishLoad refuses it). */
  allowEmpty?: boolean;
  /** Source database locator (no password): database-capable sources are read from its tables. */
  sourceDb?: string;
  /** The run's period: a database read takes only that month's rows. */
  period?: string;
}

export interface IngestSourceOrder {
  /** Resolves once every parent source (the dataset's relations) is published; the publish waits for it. */
  parentsPublished: () => Promise<unknown>;
}

/**
 * Loads one source. With `order`, its publish waits for its parents' and checks its relations (children of rejected
 * parent rows quarantined, orphans counted); the chunks still load side by side with every other source's.
 */
export async function ingestSource(input: IngestSourceInput, order?: IngestSourceOrder): Promise<LoadResult> {
  if (!patched('ingest-plan-chunks-publish')) return loadSource(input);
  const { runId, workflowId } = workflowInfo();
  const ref = { dataset: input.dataset, source: input.source, runId, workflowId };
  return runLoad({
    plan: () =>
      planLoad.executeWithOptions({ summary: `plan ${input.source}` }, [
        { ...ref, sourceDir: input.sourceDir, rejectBudget: input.rejectBudget, ...(input.sourceDb ? { sourceDb: input.sourceDb, period: input.period } : {}) },
      ]),
    chunk: (chunk, n, round) =>
      loadChunk.executeWithOptions({ summary: `load ${input.source} chunk ${chunk + 1}/${n}${round > 0 ? ' (with row numbers)' : ''}` }, [{ ...ref, chunk }]),
    publish: async () => {
      if (order) await order.parentsPublished();
      return publishLoad.executeWithOptions({ summary: `publish ${input.source}` }, [
        { ...ref, ...(input.allowEmpty ? { allowEmpty: true } : {}), ...(order ? { relations: true } : {}) },
      ]);
    },
    // Best effort, even when the run is cancelled: a landing table that survives (database down) is swept by a later plan.
    discard: () =>
      CancellationScope.nonCancellable(async () => {
        try {
          await discardLoad(ref);
        } catch {
          // swept later
        }
      }),
    notPublished: (message) => ApplicationFailure.nonRetryable(message, 'SourceFormatError'),
  });
}
