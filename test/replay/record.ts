// Records the history of a real pipeline run on the seed data into test/replay/histories/, for the replay test.
// Usage: tsx test/replay/record.ts [name]   (starts its own Temporal dev server and database)
// Re-record after a deliberate, versioned change to the workflow; an unintended change must fail replay instead.
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startPipeline } from '../../src/client';
import { startHarness } from '../helpers/pipeline';

const name = process.argv[2] ?? 'pipeline-full';
const SEED = path.resolve(import.meta.dirname, '../../../shared/datasets/django-apparel');

const h = await startHarness();
const worker = await h.newWorker();
try {
  await worker.runUntil(async () => {
    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: SEED, runKey: 'replay' });
    await run.handle.result();
    const history = await run.handle.fetchHistory();
    const file = path.join(import.meta.dirname, 'histories', `${name}.json`);
    await writeFile(file, historyToJSON(history) + '\n');
    console.log(`recorded ${history.events?.length ?? 0} events to ${path.relative(process.cwd(), file)}`);
  });
} finally {
  await h.close();
}
