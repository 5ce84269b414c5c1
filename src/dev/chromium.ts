import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext } from 'playwright-core';

// Headless Chromium for the browser tests and the dashboard benchmark: Debian's chromium driven by playwright-core
// (no browser download). One place for its path, its flags and the message when it is missing.

export const CHROMIUM_PATH = process.env.GUDANG_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

function assertChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: run \`apt-get install -y chromium\` as root (or set GUDANG_CHROMIUM to a Chromium binary)`);
  }
}

/** A headless browser (fresh contexts per page load, as the benchmark needs). */
export async function launchChromium(): Promise<Browser> {
  assertChromium();
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** One browser context with a throw-away profile folder (kept state across pages, as a person's browser does). */
export async function launchChromiumContext(viewport = { width: 1400, height: 1000 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  assertChromium();
  const profile = await mkdtemp(path.join(tmpdir(), 'gudang-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, viewport });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
