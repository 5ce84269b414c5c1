import { Worker } from '@temporalio/worker';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities';
import type { Config } from './config';
import type { Pool } from './db';

/** The repository (or image) root: the nearest folder above this module with a package.json (src/ from sources, dist/src/ compiled). */
function findRoot(from: string): string {
  let dir = path.dirname(from);
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const ROOT = findRoot(fileURLToPath(import.meta.url));
export const WORKFLOWS_PATH = path.join(ROOT, 'workflows', 'index.ts');
/** Where `npm run build:workflows` writes the bundle unless GUDANG_WORKFLOW_BUNDLE says otherwise. */
export const DEFAULT_BUNDLE_PATH = path.join(ROOT, '.gudang', 'workflow-bundle.js');

export interface WorkerDeps {
  config: Config;
  pool: Pool;
  connection: NativeConnection;
  /** Overrides for tests (e.g. a unique task queue, a prebuilt bundle). */
  options?: Partial<WorkerOptions>;
}

// ---------------------------------------------------------------------------------------------------------
// Prebuilt workflow bundle: `npm run build:workflows` bundles the workflow code once (seconds of webpack) and
// writes a manifest beside it: the sha256 of every repository file that went into the bundle and the SDK
// version. A worker uses the bundle only when every one of those files is unchanged, so an edited workflow
// is never run from a stale bundle.

export interface BundleManifest {
  sdkVersion: string;
  builtAt: string;
  /** Repository-relative path -> sha256 of each source module in the bundle. */
  modules: Record<string, string>;
}

export const manifestPathFor = (bundlePath: string) => bundlePath.replace(/\.js$/, '') + '.manifest.json';

export function workflowSdkVersion(): string {
  const pkg = createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string };
  return pkg.version;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The repository files a bundle was built from: webpack names each module by its path ("./workflows/pipeline.ts"). */
export function bundleModules(code: string, root = ROOT): Record<string, string> {
  const modules: Record<string, string> = {};
  for (const m of code.matchAll(/"\.\/((?:[\w.-]+\/)*[\w.-]+\.[cm]?[jt]s)"/g)) {
    const rel = m[1]!;
    if (rel.startsWith('node_modules/')) continue;
    const file = path.join(root, rel);
    if (existsSync(file)) modules[rel] = sha256(file);
  }
  return modules;
}

const INLINE_MAP = '//# sourceMappingURL=data:application/json;charset=utf-8;base64,';

/**
 * The bundle with its inline source map kept but without the original sources in it (`sourcesContent`, about 660 KB
 * of the 1.8 MB bundle). The SDK requires an inline map and keeps it, the code and a throwaway compile of both in the
 * worker while it loads: without the copies of the sources the deployed worker sits about 10 MiB lower idle
 * (docs/performance.md). Stack traces still map to file, line and column; only a debugger loses the source text.
 */
export function dropSourcesContent(code: string): string {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  const base64At = at < 0 ? -1 : code.indexOf('base64,', at);
  if (base64At < 0) return code;
  const map = JSON.parse(Buffer.from(code.slice(base64At + 'base64,'.length).trimEnd(), 'base64').toString('utf8')) as Record<string, unknown>;
  delete map.sourcesContent;
  return `${code.slice(0, at)}${INLINE_MAP}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}

export type BundleCheck = { fresh: true } | { fresh: false; reason: string };

/** Whether the bundle at `bundlePath` was built from the workflow code as it is now. */
export function checkBundle(bundlePath: string, root = ROOT): BundleCheck {
  if (!existsSync(bundlePath)) return { fresh: false, reason: `${path.relative(root, bundlePath) || bundlePath} does not exist` };
  const manifestPath = manifestPathFor(bundlePath);
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BundleManifest;
  } catch {
    return { fresh: false, reason: `its manifest ${path.relative(root, manifestPath)} is missing or unreadable` };
  }
  if (manifest.sdkVersion !== workflowSdkVersion()) return { fresh: false, reason: `built with @temporalio/workflow ${manifest.sdkVersion}, installed ${workflowSdkVersion()}` };
  const entries = Object.entries(manifest.modules ?? {});
  if (entries.length === 0) return { fresh: false, reason: 'its manifest lists no modules' };
  for (const [rel, hash] of entries) {
    const file = path.join(root, rel);
    if (!existsSync(file)) return { fresh: false, reason: `${rel} no longer exists` };
    if (sha256(file) !== hash) return { fresh: false, reason: `${rel} changed since it was built` };
  }
  return { fresh: true };
}

export interface WorkflowSource {
  options: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>;
  /** For the worker's ready line. */
  description: string;
  /** Why a bundle that exists was not used. */
  warning?: string;
}

/** A fresh prebuilt bundle ($GUDANG_WORKFLOW_BUNDLE, else .gudang/workflow-bundle.js), else the sources, bundled at start. */
export function resolveWorkflowSource(config: Config): WorkflowSource {
  const bundlePath = path.resolve(config.GUDANG_WORKFLOW_BUNDLE ?? DEFAULT_BUNDLE_PATH);
  const rel = path.relative(process.cwd(), bundlePath) || bundlePath;
  const check = checkBundle(bundlePath);
  const fromSource: WorkflowSource['options'] = { workflowsPath: createRequire(import.meta.url).resolve(WORKFLOWS_PATH) };
  if (check.fresh) return { options: { workflowBundle: { codePath: bundlePath } }, description: `prebuilt bundle ${rel}` };
  const explicit = Boolean(config.GUDANG_WORKFLOW_BUNDLE);
  if (existsSync(bundlePath) || explicit) {
    return {
      options: fromSource,
      description: 'sources (bundled at start)',
      warning: `not using workflow bundle ${rel}: ${check.reason}; bundling the sources instead (run \`npm run build:workflows\` for a fast start)`,
    };
  }
  return { options: fromSource, description: 'sources (bundled at start; `npm run build:workflows` makes start-up faster)' };
}

export async function createWorker({ config, pool, connection, options }: WorkerDeps): Promise<Worker> {
  const source = options?.workflowBundle || options?.workflowsPath ? undefined : resolveWorkflowSource(config);
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities(pool),
    maxConcurrentActivityTaskExecutions: config.GUDANG_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.GUDANG_MAX_CONCURRENT_WORKFLOW_TASKS,
    // Each cached workflow keeps its state in the workflow context; the bound keeps the worker's memory bounded
    // (a workflow evicted from the cache is replayed from its history when it next has work).
    maxCachedWorkflows: config.GUDANG_MAX_CACHED_WORKFLOWS,
    // On SIGINT/SIGTERM, running activities get this long to finish before they are cancelled and handed back
    // to the server, which retries them on another worker (every activity is safe to retry).
    shutdownGraceTime: '30 seconds',
    ...source?.options,
    ...options,
  });
}
