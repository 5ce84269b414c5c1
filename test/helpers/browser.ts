import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromiumContext } from '../../src/dev/chromium';

// The browser tests' one Chromium setup: a headless context with a throw-away profile, one page that records every
// console error and uncaught page error, and screenshots saved under test-artifacts/.

export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions of every page of the context, in order. */
  consoleErrors: string[];
  /** Saves test-artifacts/<name>.png (full page unless told otherwise). */
  screenshot(name: string, fullPage?: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function openTestBrowser(): Promise<TestBrowser> {
  await mkdir(ARTIFACTS, { recursive: true });
  const { context, close } = await launchChromiumContext();
  const consoleErrors: string[] = [];
  const watch = (p: Page) => {
    p.setDefaultTimeout(30_000);
    p.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${p.url()}: ${m.text()}`);
    });
    p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: ${e.message}`));
  };
  const existing = context.pages()[0];
  if (existing) watch(existing);
  context.on('page', watch);
  const page = existing ?? (await context.newPage());
  return {
    context,
    page,
    consoleErrors,
    screenshot: async (name, fullPage = true) => {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
    },
    close,
  };
}
