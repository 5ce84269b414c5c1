/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per module/package,
 * and total (inclusive) time of the project's own functions.
 *
 *   npx tsx bench/lib/cpuprofile.ts FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  byFunction: { name: string; selfMs: number; pct: number }[];
  byModule: { module: string; selfMs: number; pct: number }[];
  inclusive: { name: string; totalMs: number; pct: number }[];
}

/** node_modules/<pkg>, src/..., node:internal, (program)/(garbage collector)/(idle). */
function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node:internal');
  const file = url.replace(/^file:\/\//, '');
  const root = `${process.cwd()}/`;
  return file.startsWith(root) ? file.slice(root.length) : file;
}

export function summarise(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fnSelf = new Map<string, number>();
  const modSelf = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    const mod = moduleOf(f.url, f.functionName);
    const name = `${f.functionName || '(anonymous)'} ${mod}:${f.lineNumber + 1}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + us);
    modSelf.set(mod, (modSelf.get(mod) ?? 0) + us);
    // inclusive time for project frames (each frame name counted once per sample stack)
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (!/\/(src|bench|activities|workflows)\//.test(cf.url) || /node_modules/.test(cf.url)) continue;
      const key = `${cf.functionName || '(anonymous)'} ${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number) => Math.round((1000 * us) / totalUs) / 10;
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: totalUs / 1000,
    byFunction: sorted(fnSelf).map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), pct: pct(us) })),
    byModule: sorted(modSelf).map(([module, us]) => ({ module, selfMs: Math.round(us / 1000), pct: pct(us) })),
    inclusive: sorted(incl).map(([name, us]) => ({ name, totalMs: Math.round(us / 1000), pct: pct(us) })),
  };
}

export function loadProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`sampled ${Math.round(s.totalMs)} ms`, '', 'self time by module:'];
  for (const m of s.byModule) lines.push(`  ${String(m.pct).padStart(5)} %  ${String(m.selfMs).padStart(6)} ms  ${m.module}`);
  lines.push('', 'self time by function:');
  for (const f of s.byFunction) lines.push(`  ${String(f.pct).padStart(5)} %  ${String(f.selfMs).padStart(6)} ms  ${f.name}`);
  lines.push('', 'inclusive time of project functions:');
  for (const f of s.inclusive) lines.push(`  ${String(f.pct).padStart(5)} %  ${String(f.totalMs).padStart(6)} ms  ${f.name}`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('cpuprofile.ts')) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: cpuprofile.ts FILE.cpuprofile [--top N]');
  const topIdx = process.argv.indexOf('--top');
  const top = topIdx === -1 ? 25 : Number(process.argv[topIdx + 1]);
  process.stdout.write(`${formatSummary(summarise(loadProfile(file), top))}\n`);
}
