import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, runProcess } from './proc';

// The benchmark's child processes run compiled JavaScript, as the worker does (npm run build): esbuild bundles the
// child with the project's modules into dist/bench/, node_modules stay external. No TypeScript loader is timed.

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, '..');
const built = new Map<string, Promise<string>>();

/** Compiles bench/lib/<name>.ts to dist/bench/<name>.js once per bench run; returns the .js path. */
export function compiledChild(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) {
    const out = path.join(REPO_DIR, 'dist', 'bench', `${name}.js`);
    const esbuild = path.join(REPO_DIR, 'node_modules', '.bin', 'esbuild');
    const args = [path.join(BENCH_DIR, 'lib', `${name}.ts`), '--bundle', '--platform=node', '--format=esm', '--target=node20', '--packages=external', '--sourcemap', `--outfile=${out}`];
    p = runProcess(esbuild, args, { cwd: REPO_DIR }).then((r) => (check(r, `esbuild ${name}`), out));
    built.set(name, p);
  }
  return p;
}
