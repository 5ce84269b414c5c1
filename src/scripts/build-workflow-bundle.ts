import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BUNDLE_PATH, WORKFLOWS_PATH, bundleModules, dropSourcesContent, manifestPathFor, workflowSdkVersion } from '../worker-factory';
import type { BundleManifest } from '../worker-factory';

// `npm run build:workflows [-- --out FILE]`: bundles the workflow code once, so a worker starts in about a
// second instead of spending several on webpack. Writes the bundle ($GUDANG_WORKFLOW_BUNDLE, else
// .gudang/workflow-bundle.js) and a manifest beside it with the hash of every source module in it; the worker
// uses the bundle only while those files are unchanged.

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    console.log('usage: npm run build:workflows [-- --out FILE]   (default: $GUDANG_WORKFLOW_BUNDLE, else .gudang/workflow-bundle.js)');
    return;
  }
  const out = path.resolve(values.out ?? process.env.GUDANG_WORKFLOW_BUNDLE ?? DEFAULT_BUNDLE_PATH);
  const started = Date.now();
  const quiet = () => undefined;
  const { code: bundled } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) },
  });
  const code = dropSourcesContent(bundled);
  const manifest: BundleManifest = { sdkVersion: workflowSdkVersion(), builtAt: new Date().toISOString(), modules: bundleModules(code) };
  await mkdir(path.dirname(out), { recursive: true });
  // Write beside, then rename: a worker starting meanwhile never reads half a file.
  await writeFile(`${out}.tmp`, code);
  await writeFile(`${manifestPathFor(out)}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${out}.tmp`, out);
  await rename(`${manifestPathFor(out)}.tmp`, manifestPathFor(out));
  const rel = path.relative(process.cwd(), out) || out;
  console.log(
    `workflow bundle written to ${rel} (${(code.length / 1e6).toFixed(1)} MB, ${Object.keys(manifest.modules).length} source modules: ` +
      `${Object.keys(manifest.modules).sort().join(', ')}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

main().catch((err) => {
  console.error(`build:workflows failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
