import { parseArgs } from 'node:util';
import { loadConfig, redactUrl, requireDatabaseUrl } from '../config';
import { startDashboard } from './server';

// `npm run dashboard [-- --port N] [--host H]`: serves the dashboard (see docs/dashboard.md) on 127.0.0.1:8300 by
// default, reading DATABASE_URL as the read-only role gudang_dashboard.

const DASHBOARD_HELP = `usage: npm run dashboard [-- --port N] [--host H]

Serves gudang's dashboard (Django Apparel, Superstore, Runs) and its JSON API, reading DATABASE_URL as the
read-only role gudang_dashboard (sql/roles/dashboard_role.sql; applied at start-up when the login may).

  --port N   port to listen on (default 8300; 0 picks a free one)
  --host H   address to listen on (default 127.0.0.1)

Links to runs point at TEMPORAL_UI_URL (namespace TEMPORAL_NAMESPACE).`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { port: { type: 'string', default: '8300' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${DASHBOARD_HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(DASHBOARD_HELP);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: expected a port number from 0 to 65535 (got ${JSON.stringify(values.port)})`);
    return 2;
  }
  const config = loadConfig();
  const url = requireDatabaseUrl(config);
  const dashboard = await startDashboard({ databaseUrl: url, temporalUiUrl: config.TEMPORAL_UI_URL, temporalNamespace: config.TEMPORAL_NAMESPACE, host: values.host, port });
  console.log(`dashboard at ${dashboard.url} (reading ${redactUrl(url)} as gudang_dashboard; Temporal Web UI links to ${config.TEMPORAL_UI_URL}); Ctrl+C to stop`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
