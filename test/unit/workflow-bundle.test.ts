import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH, bundleModules, dropSourcesContent } from '../../src/worker-factory';

const quiet = () => undefined;
const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

function inlineMap(code: string): { code: string; map: Record<string, unknown> } {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  assert.ok(at > 0, 'the bundle ends with an inline source map (the SDK refuses a bundle without one)');
  const b64 = code.indexOf('base64,', at);
  return { code: code.slice(0, at), map: JSON.parse(Buffer.from(code.slice(b64 + 7).trimEnd(), 'base64').toString('utf8')) };
}

test('the built workflow bundle keeps its code and source map mappings, without the sources inside the map', async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger });
  const slim = dropSourcesContent(code);
  const before = inlineMap(code);
  const after = inlineMap(slim);
  assert.ok(Array.isArray(before.map.sourcesContent) && before.map.sourcesContent.length > 0, 'webpack put the sources in the map');
  assert.equal(after.code, before.code);
  assert.equal('sourcesContent' in after.map, false);
  const { sourcesContent: _dropped, ...rest } = before.map;
  assert.deepEqual(after.map, rest);
  assert.ok(slim.length < code.length * 0.7, `bundle ${slim.length} bytes from ${code.length}`);
  assert.deepEqual(bundleModules(slim), bundleModules(code));
  assert.ok('workflows/pipeline.ts' in bundleModules(slim));
});

test('a bundle without an inline source map is returned as it is', () => {
  assert.equal(dropSourcesContent('var x = 1;\n'), 'var x = 1;\n');
});
