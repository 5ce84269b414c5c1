import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

// The README's quick start, as a new user runs it: its commands, in a fresh clone, with an empty gudang cache (so
// no Temporal CLI: the demo has to build it), no DATABASE_URL (the demo's embedded PostgreSQL), and the clone
// under a private folder (mode 0700, as mktemp -d makes), which as root the postgres user cannot enter.
// The Go build cache is reused so the CLI build is a link step, not a 10-minute compile.

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The commands of the first ```bash block under "## Quick start" in README.md. */
async function quickStartCommands(): Promise<string[]> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start\s*$/m)[1];
  assert.ok(section, 'README.md has a "## Quick start" section');
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the quick start has a ```bash block');
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line && !line.startsWith('#'));
}

function goEnv(name: string): string | undefined {
  for (const go of ['go', '/usr/local/go/bin/go']) {
    try {
      return execFileSync(go, ['env', name], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // try the next
    }
  }
  return undefined;
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n(timed out after ${timeoutMs} ms)`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

let workDir: string | undefined;
after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test("the README's quick start works in a fresh clone with an empty cache, under a private folder", { timeout: 20 * 60_000 }, async (t) => {
  const commands = await quickStartCommands();
  assert.ok(commands.includes('npm ci') && commands.some((c) => c.startsWith('npm run demo')), `quick start: ${commands.join('; ')}`);

  workDir = await mkdtemp(path.join(tmpdir(), 'gudang-quickstart-'));
  assert.equal((await stat(workDir)).mode & 0o777, 0o700);
  const clone = path.join(workDir, 'gudang');
  execFileSync('git', ['clone', '--quiet', ROOT, clone]);

  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: path.join(workDir, 'cache'), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_prefer_offline: 'true' };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_CLI_PATH', 'TEMPORAL_UI_URL', 'GUDANG_SOURCE_DIR', 'GUDANG_DATASET']) delete env[name];
  const gocache = goEnv('GOCACHE');
  if (gocache) env.GOCACHE = gocache;
  env.PATH = (env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .join(path.delimiter);

  for (const command of commands) {
    const result = await run(command, clone, env, 15 * 60_000);
    t.diagnostic(`${command}: exit ${result.code} in ${(result.ms / 1000).toFixed(1)} s`);
    assert.equal(result.code, 0, `"${command}" failed in the fresh clone:\n${result.output.slice(-6000)}`);
    if (command.startsWith('npm run demo')) {
      // It had no Temporal CLI: it said it was building one, and how long that took.
      assert.match(result.output, /no Temporal CLI found .*building v\d/);
      assert.match(result.output, /built .*temporal .* in \d+(m\d+)?s/);
      assert.match(result.output, /starting an embedded PostgreSQL/);
      assert.match(result.output, /demo finished in/);
      assert.match(result.output, /dm_revenue_by_months/);
    }
  }
});
