import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main';
import { resolveSourceFile } from '../../src/ingest/paths';

// Issue 9: every invalid argument gives one line saying what is wrong, then the usage (exit 2), never a stack
// trace; and nothing is started (TEMPORAL_ADDRESS points nowhere: a usage error must not even try to connect).

const ROOT = path.resolve(import.meta.dirname, '../..');
const env = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:9', NODE_NO_WARNINGS: '1' };

/** The client's main() in this process, its console output captured. */
async function runMain(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; output: string }> {
  const saved = { log: console.log, error: console.error };
  let stdout = '';
  let stderr = '';
  console.log = (...a: unknown[]) => void (stdout += `${a.join(' ')}\n`);
  console.error = (...a: unknown[]) => void (stderr += `${a.join(' ')}\n`);
  const saveAddress = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = env.TEMPORAL_ADDRESS;
  try {
    const code = await main(args);
    return { code, stdout, stderr, output: `$ gudang ${args.join(' ')}\n[exit ${code}]\n${stdout}\n${stderr}` };
  } finally {
    Object.assign(console, saved);
    if (saveAddress === undefined) delete process.env.TEMPORAL_ADDRESS;
    else process.env.TEMPORAL_ADDRESS = saveAddress;
  }
}

function assertUsageError(r: { code: number | null; stdout: string; stderr: string; output: string }, message: RegExp): void {
  assert.equal(r.code, 2, r.output);
  const [first, blank, usage] = r.stderr.split('\n');
  assert.match(first!, message, r.output);
  assert.equal(blank, '', `one line, then a blank line, then the usage:\n${r.output}`);
  assert.match(usage!, /^usage: /, r.output);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace:\n${r.output}`);
}

void describe('usage errors are one line and the usage', () => {
  void test('a negative, malformed or out-of-range reject budget, in both spellings', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--reject-budget', '-1'], /^Option '--reject-budget' argument is ambiguous\. .*--reject-budget=-XYZ/],
      [['run', '--reject-budget=-1'], /^--reject-budget: "-1" is not a reject budget; expected N \(rows\) or P%/],
      [['run', '--reject-budget=abc'], /^--reject-budget: "abc" is not a reject budget/],
      [['run', '--reject-budget=101%'], /^--reject-budget: "101%" is not a reject budget/],
      [['stream', 'start', '--source-db', 'postgres://shop@127.0.0.1:1/shop', '--reject-budget=abc'], /^--reject-budget: "abc" is not a reject budget/],
      [['run', '--period', '2022-13'], /^--period "2022-13" is not a month/],
      [['run', '--bogus'], /^Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) assertUsageError(await runMain(args), message);
  });

  void test('the demo script too', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/demo.ts'), '--reject-budget=-5'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr, output: `[exit ${code}]\n${stdout}\n${stderr}` }));
    });
    assertUsageError(r, /^--reject-budget: "-5" is not a reject budget/);
  });
});

void describe('a folder named like "..data" inside the source root is an ordinary folder', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'gudang-dotdot-'));
    await mkdir(path.join(root, '..data'));
    await writeFile(path.join(root, '..data', 'orders.csv'), 'order_id\n1\n');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  void test('it resolves inside the root; ".." itself still leaves it', async () => {
    assert.equal(await resolveSourceFile(path.join(root, '..data'), 'orders.csv', root), path.join(root, '..data', 'orders.csv'));
    await assert.rejects(resolveSourceFile(path.join(root, '..'), 'orders.csv', root), /refused: the source directory .* is outside the source root/);
    await assert.rejects(resolveSourceFile(path.join(root, '..data'), '../orders.csv', root), /refused: a source file name must be a plain relative name/);
  });
});
