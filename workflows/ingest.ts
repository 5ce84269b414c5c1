import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { INPUT_ERROR_TYPES } from '../src/contracts';
import type { LoadResult } from '../src/contracts';

// How one source gets into staging. The pipeline calls ingestSource once per source;
// how the load is split (one activity today) is this module's business alone.

const { loadSource } = proxyActivities<Activities>({
  // A load streams the whole file; the heartbeat tells a dead worker apart from a slow file within seconds.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [...INPUT_ERROR_TYPES],
  },
});

export interface IngestSourceInput {
  dataset: string;
  source: string;
  sourceDir: string;
}

export async function ingestSource(input: IngestSourceInput): Promise<LoadResult> {
  return loadSource(input);
}
