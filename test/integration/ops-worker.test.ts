import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { progressQueryName } from '../../src/contracts';
import type { PipelineProgress, PipelineSummary } from '../../src/contracts';
import { checkBundle, manifestPathFor, resolveWorkflowSource } from '../../src/worker-factory';
import type { BundleManifest } from '../../src/worker-factory';
import { startHarness } from '../helpers/pipeline';
import type { PipelineHarness } from '../helpers/pipeline';

// The worker as it runs in production (`npm run worker`): a child process with a prebuilt workflow bundle,
// one ready line, and a graceful shutdown that lets a run carry on elsewhere.

const ROOT = path.resolve(import.meta.dirname, '../..');
const SEED = path.resolve(ROOT, '../shared/datasets/django-apparel');

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function start(script: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 60_000, detail = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the worker process', () => {
  let h: PipelineHarness;
  let dir: string;
  let bundle: string;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];

  before(async () => {
    [h, dir] = await Promise.all([startHarness(), mkdtemp(path.join(tmpdir(), 'gudang-worker-'))]);
    bundle = path.join(dir, 'workflow-bundle.js');
    env = {
      ...process.env,
      DATABASE_URL: h.db.url,
      TEMPORAL_ADDRESS: h.config.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: h.config.TEMPORAL_NAMESPACE,
      TEMPORAL_TASK_QUEUE: h.config.TEMPORAL_TASK_QUEUE,
      GUDANG_WORKFLOW_BUNDLE: bundle,
      GUDANG_LOG_LEVEL: 'warn',
      NODE_NO_WARNINGS: '1',
    };
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('build:workflows writes a bundle and a manifest; an edited source makes the bundle stale', async () => {
    const build = start('src/scripts/build-workflow-bundle.ts', [], env);
    children.push(build.child);
    assert.equal(await build.exited, 0, build.output());
    assert.match(build.output(), /workflow bundle written to .*workflow-bundle\.js \(\d+\.\d MB, \d+ source modules: .*workflows\/pipeline\.ts/);
    const manifest = JSON.parse(await readFile(manifestPathFor(bundle), 'utf8')) as BundleManifest;
    assert.ok(manifest.modules['workflows/pipeline.ts'] && manifest.modules['src/contracts.ts']);
    assert.deepEqual(checkBundle(bundle), { fresh: true });
    assert.ok(resolveWorkflowSource({ ...h.config, GUDANG_WORKFLOW_BUNDLE: bundle }).options.workflowBundle, 'a fresh bundle is used');

    // A copy whose manifest remembers another pipeline.ts: the worker must not run it.
    const stale = path.join(dir, 'stale-bundle.js');
    await copyFile(bundle, stale);
    await writeFile(manifestPathFor(stale), JSON.stringify({ ...manifest, modules: { ...manifest.modules, 'workflows/pipeline.ts': '0'.repeat(64) } }));
    assert.deepEqual(checkBundle(stale), { fresh: false, reason: 'workflows/pipeline.ts changed since it was built' });
    const source = resolveWorkflowSource({ ...h.config, GUDANG_WORKFLOW_BUNDLE: stale });
    assert.ok(source.options.workflowsPath && !source.options.workflowBundle);
    assert.match(source.warning ?? '', /not using workflow bundle .*stale-bundle\.js: workflows\/pipeline\.ts changed/);
  });

  test('starts from the bundle with one ready line, and on SIGTERM finishes its activities and hands the run on', async () => {
    const first = start('src/worker.ts', [], env);
    children.push(first.child);
    await waitFor('the ready line', () => /gudang worker ready/.test(first.output()), 60_000, first.output);
    const ready = first.output().split('\n').filter((l) => l.includes('gudang worker ready'));
    assert.equal(ready.length, 1);
    assert.match(ready[0]!, /^gudang worker ready in \d+\.\d s: task queue "gudang-test-\w+" on 127\.0\.0\.1:\d+ \(namespace default\), .*up to 4 activities and 10 workflow tasks at once, workflows from prebuilt bundle .*workflow-bundle\.js$/);

    const run = await startPipeline(h.client, h.config, { dataset: 'django-apparel', sourceDir: SEED, period: '2022-06' });
    // Stop the worker while the run is busy with its steps.
    await waitFor('a step in flight', async () => {
      const p = await run.handle.query<PipelineProgress>(progressQueryName).catch(() => undefined);
      return Boolean(p && p.steps.some((s) => s.status === 'running'));
    });
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /SIGTERM: shutting down; \d+ activit(y|ies) in flight get up to 30 s to finish/);
    assert.match(first.output(), /gudang worker stopped/);
    assert.equal((await run.handle.describe()).status.name, 'RUNNING', 'the run outlives its worker');

    // Another worker picks the run up where the first left it.
    const second = await h.newWorker();
    const summary = (await second.runUntil(run.handle.result())) as PipelineSummary;
    assert.equal(summary.period, '2022-06');
    const { rows } = await h.db.pool.query(`SELECT status FROM ops.pipeline_runs WHERE run_id = $1`, [run.runId]);
    assert.deepEqual(rows, [{ status: 'completed' }]);
  });
});
