/**
 * One Temporal dev server per test file: call startTestTemporal() in a
 * before() hook and server.stop() in after().
 */
import { findTemporalCli } from '../../src/dev/temporal-cli';
import { startDevServer } from '../../src/dev/temporal-server';
import type { DevServer, StartDevServerOptions } from '../../src/dev/temporal-server';

export interface TestTemporalOptions extends StartDevServerOptions {
  /** Default: headless, unless env GUDANG_TEST_TEMPORAL_UI=1 (handy to watch a test in the Web UI). */
  headless?: boolean;
}

export async function startTestTemporal(opts: TestTemporalOptions = {}): Promise<DevServer> {
  const cli = await findTemporalCli();
  if (!cli) {
    throw new Error(
      'Temporal CLI not found (looked at TEMPORAL_CLI_PATH, `temporal` on PATH and the gudang cache). ' +
        'Integration tests need it: run npm run temporal:install (builds it once with Go, ~4 min).',
    );
  }
  const headless = opts.headless ?? process.env.GUDANG_TEST_TEMPORAL_UI !== '1';
  const server = await startDevServer({ ...opts, headless });
  if (!headless && server.uiUrl) process.stderr.write(`[test] Temporal Web UI: ${server.uiUrl}\n`);
  return server;
}
