/**
 * Measured figures of the fault tests: printed as test diagnostics and written to
 * test-artifacts/faults/<case>.json so the README faults table can be checked against a real run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT } from '../helpers/processes';

export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'faults');

export async function recordFigures(t: TestContext, name: string, figures: Record<string, unknown>): Promise<void> {
  for (const [k, v] of Object.entries(figures)) t.diagnostic(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(path.join(ARTIFACTS, `${name}.json`), `${JSON.stringify({ recordedAt: new Date().toISOString(), ...figures }, null, 2)}\n`);
}
