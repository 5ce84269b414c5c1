// The worker registers every workflow exported here.
export { pipelineWorkflow, progressQuery } from './pipeline';
export { backfillWorkflow, backfillProgressQuery } from './backfill';
export { backupWorkflow, backupProgressQuery } from './backup';
export { streamWorkflow, streamStatusQuery, streamStopSignal } from './stream';
