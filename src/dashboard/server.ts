import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { z } from 'zod';
import type { Pool } from '../db';
import { registerApparel } from './api/apparel';
import { registerRuns } from './api/runs';
import { registerSuperstore } from './api/superstore';
import { createReadOnlyPool, prepareReadOnlyRole } from './db';
import { BadRequest, parseQuery } from './params';

// gudang's dashboard: a fastify server with a JSON API (one endpoint behind every chart and table, each also as CSV
// with ?format=csv) and a static single page that draws the charts with Apache ECharts. See docs/dashboard.md.

export interface DashboardOptions {
  /** A pool acting as the read-only dashboard role (createReadOnlyPool). */
  pool: Pool;
  /** Temporal Web UI base URL and namespace, for the link of each run. */
  temporalUiUrl: string;
  temporalNamespace: string;
  logger?: boolean;
}

export interface ApiResult {
  rows: Record<string, unknown>[];
  [key: string]: unknown;
}

export type Api = <S extends z.ZodRawShape>(
  route: string,
  shape: S,
  handler: (params: z.infer<z.ZodObject<S>>, routeParams: Record<string, string>) => Promise<ApiResult>,
) => void;

const PUBLIC = path.resolve(import.meta.dirname, 'public');
const require = createRequire(import.meta.url);

/** The only files served besides the API: a fixed list, nothing is looked up from the request's path. */
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(PUBLIC, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(PUBLIC, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/ui.js': { file: path.join(PUBLIC, 'ui.js'), type: 'text/javascript; charset=utf-8' },
  '/apparel.js': { file: path.join(PUBLIC, 'apparel.js'), type: 'text/javascript; charset=utf-8' },
  '/superstore.js': { file: path.join(PUBLIC, 'superstore.js'), type: 'text/javascript; charset=utf-8' },
  '/runs.js': { file: path.join(PUBLIC, 'runs.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: path.join(PUBLIC, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/echarts.min.js': { file: require.resolve('echarts/dist/echarts.min.js'), type: 'text/javascript; charset=utf-8' },
};

export async function buildDashboard(opts: DashboardOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false });
  const cache = new Map<string, Buffer>();

  for (const [route, { file, type }] of Object.entries(STATIC)) {
    app.get(route, async (_req, reply) => {
      let body = cache.get(file);
      if (!body) cache.set(file, (body = await readFile(file)));
      return reply.type(type).header('cache-control', 'no-cache').send(body);
    });
  }

  const api: Api = (route, shape, handler) => {
    app.get(route, async (req, reply) => {
      const params = parseQuery(shape, req.query);
      const result = await handler(params, (req.params ?? {}) as Record<string, string>);
      if (params.format === 'csv') {
        const name = route.replace(/^\/api\//, '').replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '');
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}.csv"`)
          .send(toCsv(result.rows));
      }
      return result;
    });
  };

  registerApparel(api, opts.pool);
  registerSuperstore(api, opts.pool);
  registerRuns(api, opts.pool, { uiUrl: opts.temporalUiUrl, namespace: opts.temporalNamespace });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no such endpoint: ${req.method} ${req.url.split('?')[0]}` }));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof BadRequest || err.statusCode === 400) return reply.code(400).send({ error: err.message });
    if (err.code === '42501') {
      // permission denied: the read-only role was not granted what this view reads
      return reply.code(503).send({ error: `${err.message} (the dashboard reads as gudang_dashboard: run sql/roles/dashboard_role.sql as the owner)` });
    }
    if (err.code === '42P01') {
      // undefined table: the dataset has not been loaded into this database yet
      return reply.code(503).send({ error: `${err.message}: no run has built it in this database yet` });
    }
    req.log.error(err);
    return reply.code(500).send({ error: `${req.url.split('?')[0]}: ${err.message}` });
  });
  return app;
}

export interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

/** Starts the dashboard on host:port; used by `npm run dashboard`, `npm run demo -- --keep-open` and the tests. */
export async function startDashboard(opts: { databaseUrl: string; temporalUiUrl: string; temporalNamespace: string; host?: string; port?: number }): Promise<RunningDashboard> {
  await prepareReadOnlyRole(opts.databaseUrl);
  const pool = createReadOnlyPool(opts.databaseUrl);
  const app = await buildDashboard({ pool, temporalUiUrl: opts.temporalUiUrl, temporalNamespace: opts.temporalNamespace });
  try {
    await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8300 });
  } catch (err) {
    await pool.end();
    throw new Error(`dashboard: cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 8300}: ${(err as Error).message}`, { cause: err });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}/`,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}

function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  return stringify(rows, {
    header: true,
    columns,
    cast: { date: (d) => d.toISOString(), object: (o) => JSON.stringify(o), boolean: (b) => String(b) },
  });
}
