/**
 * One Temporal dev server per test file: call startTestTemporal() in a
 * before() hook and server.stop() in after(). Without a Temporal CLI it is built
 * first (with Go, saying so); without Go it fails saying what to install.
 */
import { startDevServer } from '../../src/dev/temporal-server';
import type { DevServer, StartDevServerOptions } from '../../src/dev/temporal-server';

export interface TestTemporalOptions extends StartDevServerOptions {
  /** Default: headless, unless env GUDANG_TEST_TEMPORAL_UI=1 (handy to watch a test in the Web UI). */
  headless?: boolean;
}

export async function startTestTemporal(opts: TestTemporalOptions = {}): Promise<DevServer> {
  const headless = opts.headless ?? process.env.GUDANG_TEST_TEMPORAL_UI !== '1';
  const server = await startDevServer({ ...opts, headless });
  if (!headless && server.uiUrl) process.stderr.write(`[test] Temporal Web UI: ${server.uiUrl}\n`);
  return server;
}
