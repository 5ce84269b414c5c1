import type { Pool } from '../src/db';
import { createBackupActivities } from './backup';
import { createIngestActivities } from './ingest';
import { createOpsActivities } from './ops';
import { createStreamActivities } from './stream';
import { createWarehouseActivities } from './warehouse';

// All I/O of the pipeline lives in activities. Every activity is safe to retry:
// loads replace their staging table atomically, models rebuild their table in one transaction,
// gates only read.

export function createActivities(pool: Pool) {
  return {
    ...createIngestActivities(pool),
    ...createWarehouseActivities(pool),
    ...createOpsActivities(pool),
    ...createBackupActivities(pool),
    ...createStreamActivities(pool),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { LoadSourceInput } from './ingest';
export type { BuildModelInput, CheckQualityInput } from './warehouse';
