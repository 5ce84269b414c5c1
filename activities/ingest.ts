import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { LoadResult } from '../src/contracts';
import { getDataset } from '../src/datasets';
import type { Pool } from '../src/db';
import { loadSource } from '../src/ingest/load';
import { failFastOnBadInput } from './common';

export interface LoadSourceInput {
  dataset: string;
  source: string;
  sourceDir: string;
}

/** Ingest activities: files (and later databases, URLs) into staging tables. */
export function createIngestActivities(pool: Pool) {
  return {
    async loadSource(input: LoadSourceInput): Promise<LoadResult> {
      return failFastOnBadInput(async () => {
        const ctx = Context.current();
        const spec = getDataset(input.dataset).sources.find((s) => s.name === input.source);
        if (!spec) throw ApplicationFailure.nonRetryable(`dataset ${input.dataset} has no source "${input.source}"`, 'UnknownDataset');
        return loadSource(pool, spec, input.sourceDir, {
          runId: ctx.info.workflowExecution?.runId ?? ctx.info.activityId,
          workflowId: ctx.info.workflowExecution?.workflowId ?? '',
          dataset: input.dataset,
          heartbeat: (progress) => ctx.heartbeat(progress),
        });
      });
    },
  };
}
