import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { WORKFLOWS_PATH } from '../../src/worker-factory';
import { quietLogger } from '../helpers/pipeline';

// Recorded histories of real runs (exported with `temporal workflow show -o json` or historyToJSON),
// replayed against today's workflow code: a change that breaks determinism fails here before it ships.

const DIR = path.join(import.meta.dirname, 'histories');

test('recorded pipeline histories replay against the current workflow code', async () => {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length > 0, 'at least one recorded history');
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(await readFile(path.join(DIR, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: { code }, replayName: file }, history);
  }
});
