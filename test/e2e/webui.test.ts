import { Client, Connection } from '@temporalio/client';
import { NativeConnection, bundleWorkflowCode } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startPipeline } from '../../src/client';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import type { DevServer } from '../../src/dev/temporal-server';
import { migrate } from '../../src/warehouse/migrate';
import { WORKFLOWS_PATH, createWorker } from '../../src/worker-factory';
import { openTestBrowser } from '../helpers/browser';
import type { TestBrowser } from '../helpers/browser';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';
import { installQuietRuntime, quietLogger } from '../helpers/pipeline';
import { startTestTemporal } from '../helpers/temporal';

// The Temporal Web UI, driven in headless Chromium the way a person uses it: open the workflow list, find
// "the March 2022 load" by its period, open it, see its activities. Screenshots go to test-artifacts/.

const ROOT = path.resolve(import.meta.dirname, '../..');
const SEED = path.resolve(ROOT, '../shared/datasets/django-apparel');

describe('the Temporal Web UI shows gudang runs by dataset, period and trigger', () => {
  let server: DevServer;
  let db: TestDatabase;
  let config: Config;
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let worker: Worker;
  let workerDone: Promise<void>;
  let browser: TestBrowser;

  before(async () => {
    browser = await openTestBrowser();
    installQuietRuntime();
    const [s, d, bundle] = await Promise.all([
      startTestTemporal({ headless: false }),
      createTestDatabase(),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger }),
    ]);
    server = s;
    db = d;
    assert.ok(server.uiUrl, 'the dev server serves its Web UI');
    await migrate(db.pool);
    config = loadConfig({
      ...process.env,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: server.namespace,
      TEMPORAL_UI_URL: server.uiUrl,
      TEMPORAL_TASK_QUEUE: `gudang-e2e-${randomUUID().slice(0, 8)}`,
    });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: server.namespace });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({ config, pool: db.pool, connection: nativeConnection, options: { workflowBundle: { code: bundle.code } } });
    workerDone = worker.run();
  });

  after(async () => {
    await browser?.close();
    worker?.shutdown();
    await workerDone;
    await nativeConnection?.close();
    await connection?.close();
    await db?.drop();
    await server?.stop();
  });

  test('find the March 2022 load by its period, open it, see its activities', async () => {
    // Two months loaded, so that finding one by its period means something.
    for (const period of ['2022-02', '2022-03']) {
      const run = await startPipeline(client, config, { dataset: 'django-apparel', sourceDir: SEED, period });
      await run.handle.result();
    }

    const page = browser.page;
    const ui = server.uiUrl!;

    // The workflow list: both runs, under their readable ids.
    await page.goto(`${ui}/namespaces/${server.namespace}/workflows`);
    const runLinks = page.locator('table a[href*="/workflows/gudang-django-apparel-"]');
    await runLinks.filter({ hasText: 'gudang-django-apparel-2022-02' }).first().waitFor();
    await runLinks.filter({ hasText: 'gudang-django-apparel-2022-03' }).first().waitFor();

    // Find it by its period, with the search attribute.
    await page.getByTestId('toggle-manual-query').click();
    const query = page.getByTestId('manual-search-input');
    await query.fill('GudangPeriod = "2022-03"');
    await query.press('Enter');
    await page.waitForURL(/query=GudangPeriod/);
    await assertEventually(async () => {
      const ids = (await runLinks.allTextContents()).map((t) => t.trim()).filter((t) => t.startsWith('gudang-'));
      assert.deepEqual(ids, ['gudang-django-apparel-2022-03']);
    });
    await browser.screenshot('webui-find-by-period', false);

    // Open it: its activities carry readable names and summaries.
    await runLinks.filter({ hasText: 'gudang-django-apparel-2022-03' }).first().click();
    await page.waitForURL(/\/workflows\/gudang-django-apparel-2022-03\/[0-9a-f-]{36}\/history/);
    // (How a source is loaded is the ingest module's business: one loadSource, or plan/chunk/publish activities.)
    for (const text of ['pipelineWorkflow', 'Completed', 'planRun', 'recordRunStart', /loadSource|publishLoad/, 'buildModel • build fct_transactions', 'checkQuality • check marts', 'recordRunEnd']) {
      await page.getByText(text, { exact: false }).first().waitFor();
    }
    await browser.screenshot('webui-march-2022-run');

    // Its search attributes say what it is.
    await page.getByText('Search Attributes', { exact: true }).first().click();
    for (const text of ['GudangDataset', 'django-apparel', 'GudangPeriod', 'GudangTrigger', 'manual']) {
      await page.getByText(text, { exact: false }).first().waitFor();
    }
    await browser.screenshot('webui-march-2022-search-attributes', false);
  });
});

async function assertEventually(check: () => Promise<void>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
