/**
 * Stream bench (issue 13): a load generator inserts order lines into a shop PostgreSQL (wal_level=logical, a cluster
 * of its own) at a steady rate while the real-time stream runs through a real Temporal dev server and a worker
 * process; reported: source-commit-to-mart latency per source transaction (p50/p95/p99/max, from
 * ops.stream_batches.lags_ms: the source's commit time to the warehouse commit that put it in the marts), the time
 * for the stream to apply everything once the load stops, and the RSS of the worker as deployed (compiled, with the
 * Dockerfile's node flags).
 */
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { seedShopDatabase } from '../../dataset/to-db';
import { loadConfig } from '../../src/config';
import { startDevServer } from '../../src/dev/temporal-server';
import { queryStream, startStream, stopStream } from '../../src/stream/client';
import { startLogicalPostgres } from '../../test/helpers/logical-postgres';
import { peakRssKiB, rssKiB } from './proc';
import { startCompiledWorker } from './workers';

export interface StreamBench {
  durationS: number;
  targetLinesPerS: number;
  linesInserted: number;
  transactions: number;
  achievedLinesPerS: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; samples: number };
  batches: { count: number; p50Changes: number; maxChanges: number };
  /** From the last source commit of the load to the warehouse commit that applied it. */
  drainMs: number;
  workerRssMiB: { max: number; peakHwm: number };
  targets: { p50: boolean; p95: boolean; p99: boolean; drain: boolean; rss: boolean };
}

const LINES_PER_ORDER = 4;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchStream(o: { pool: pg.Pool; url: string; dir: string; durationS: number; rate: number; log: (m: string) => void }): Promise<StreamBench> {
  // synchronous_commit=on, PostgreSQL's default and a production shop's: with the throwaway server's off, a commit
  // reaches logical decoding only when the shop's WAL writer flushes (wal_writer_delay, 200 ms), latency that is
  // the source's own setting, not the stream's
  const shop = await startLogicalPostgres({ settings: { synchronous_commit: 'on' } });
  const server = await startDevServer({ headless: true });
  const taskQueue = `gudang-bench-stream-${randomUUID().slice(0, 8)}`;
  let worker: Awaited<ReturnType<typeof startCompiledWorker>> | undefined;
  let client: Client | undefined;
  try {
    o.log('stream: seeding the shop database');
    await seedShopDatabase(shop.url, o.dir);
    const env = { DATABASE_URL: o.url, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace, TEMPORAL_TASK_QUEUE: taskQueue, GUDANG_SOURCE_DB_URL: shop.url };
    // the worker as deployed (compiled, the Dockerfile's flags): its RSS is what the target is about
    worker = await startCompiledWorker(env);
    const pid = worker.pid;
    const config = loadConfig({ ...process.env, ...env });
    client = new Client({ connection: await Connection.connect({ address: server.address }), namespace: server.namespace });
    o.log('stream: starting the stream (slot, initial full run from the shop)');
    await startStream(client, config, { dataset: 'django-apparel', sourceDir: o.dir, sourceDb: shop.url, stretchMs: 60_000 });
    while ((await queryStream(client, 'django-apparel')).phase !== 'streaming') await new Promise((r) => setTimeout(r, 500));
    await new Promise((r) => setTimeout(r, 3_000)); // the first stretch subscribed

    const ids = await shop.pool.query(`SELECT (SELECT max(order_id) FROM orders)::bigint AS o, (SELECT max(order_detail_id) FROM order_details)::bigint AS d`);
    let nextOrder = Number(ids.rows[0].o) + 1;
    let nextLine = Number(ids.rows[0].d) + 1;
    const products = (await shop.pool.query(`SELECT DISTINCT product_id, item_price FROM order_details LIMIT 50`)).rows;
    const cities = (await shop.pool.query(`SELECT DISTINCT city_id, customer_id FROM orders LIMIT 50`)).rows;

    const txPerS = o.rate / LINES_PER_ORDER;
    const total = Math.round(txPerS * o.durationS);
    o.log(`stream: inserting ${o.rate} lines/s (${txPerS} orders of ${LINES_PER_ORDER} lines per second) for ${o.durationS} s`);
    const loadStart = new Date();
    const t0 = performance.now();
    let rssMax = 0;
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssKiB(pid))), 500);
    let sent = 0;
    const inflight = new Set<Promise<unknown>>();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / txPerS;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const order = nextOrder++;
      const c = cities[i % cities.length]!;
      const lines: string[] = [];
      for (let j = 0; j < LINES_PER_ORDER; j++) {
        const p = products[(i + j) % products.length]!;
        lines.push(`(${nextLine++}, ${order}, ${p.product_id}, 1, ${p.item_price}, ${p.item_price})`);
      }
      const q = shop.pool
        .query(
          `WITH o AS (INSERT INTO orders VALUES (${order}, now()::timestamp(0), ${c.customer_id}, 1, ${c.city_id}))
           INSERT INTO order_details VALUES ${lines.join(', ')}`,
        )
        .then(() => sent++);
      inflight.add(q);
      void q.finally(() => inflight.delete(q));
      if (inflight.size > 8) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    const loadEnd = performance.now();
    const target = (await shop.pool.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)).rows[0]!.lsn;
    let drainMs = NaN;
    for (;;) {
      const { rows } = await o.pool.query<{ done: boolean }>(`SELECT applied_lsn::pg_lsn >= $1::pg_lsn AS done FROM ops.streams WHERE dataset = 'django-apparel'`, [target]);
      if (rows[0]?.done) {
        drainMs = performance.now() - loadEnd;
        break;
      }
      if (performance.now() - loadEnd > 120_000) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    clearInterval(rssTimer);
    const peakHwm = peakRssKiB(pid);
    const { rows: lagRows } = await o.pool.query<{ l: number }>(
      `SELECT unnest(lags_ms)::float8 AS l FROM ops.stream_batches WHERE dataset = 'django-apparel' AND first_commit_at >= $1 AND transactions > 0`,
      [loadStart],
    );
    const lags = lagRows.map((r) => r.l).sort((a, b) => a - b);
    const { rows: sizes } = await o.pool.query(
      `SELECT count(*)::int AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY changes) AS p50, max(changes) AS max
         FROM ops.stream_batches WHERE dataset = 'django-apparel' AND first_commit_at >= $1 AND transactions > 0`,
      [loadStart],
    );
    const elapsedS = (loadEnd - t0) / 1000;
    const r: StreamBench = {
      durationS: o.durationS,
      targetLinesPerS: o.rate,
      linesInserted: sent * LINES_PER_ORDER,
      transactions: sent,
      achievedLinesPerS: Math.round((sent * LINES_PER_ORDER) / elapsedS),
      latencyMs: { p50: pct(lags, 50), p95: pct(lags, 95), p99: pct(lags, 99), max: lags[lags.length - 1] ?? NaN, samples: lags.length },
      batches: { count: sizes[0].n, p50Changes: Number(sizes[0].p50), maxChanges: Number(sizes[0].max) },
      drainMs,
      workerRssMiB: { max: Math.round(rssMax / 1024), peakHwm: Math.round(peakHwm / 1024) },
      targets: { p50: false, p95: false, p99: false, drain: false, rss: false },
    };
    r.targets = { p50: r.latencyMs.p50 < 200, p95: r.latencyMs.p95 < 500, p99: r.latencyMs.p99 < 1000, drain: drainMs < 2000, rss: r.workerRssMiB.peakHwm < 256 };
    o.log(`stream: ${renderStream(r)}`);
    await stopStream(client, 'django-apparel', { dropSlot: true });
    return r;
  } finally {
    await worker?.stop().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await server.stop();
    await shop.stop();
  }
}

export function renderStream(r: StreamBench): string {
  const ok = (b: boolean) => (b ? 'met' : 'NOT met');
  return [
    `### Stream: ${r.targetLinesPerS} lines/s for ${r.durationS} s (achieved ${r.achievedLinesPerS} lines/s, ${r.transactions} source transactions)`,
    '',
    'The shop: its own PostgreSQL with wal_level=logical and synchronous_commit=on; the worker: compiled (dist/src/worker.js) with the deployed node flags.',
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| source commit to mart, p50 | ${r.latencyMs.p50.toFixed(0)} ms | < 200 ms: ${ok(r.targets.p50)} |`,
    `| p95 | ${r.latencyMs.p95.toFixed(0)} ms | < 500 ms: ${ok(r.targets.p95)} |`,
    `| p99 | ${r.latencyMs.p99.toFixed(0)} ms | < 1 s: ${ok(r.targets.p99)} |`,
    `| max | ${r.latencyMs.max.toFixed(0)} ms | |`,
    `| lag back to zero after the load stops | ${r.drainMs.toFixed(0)} ms | < 2 s: ${ok(r.targets.drain)} |`,
    `| worker RSS (max sampled / peak VmHWM) | ${r.workerRssMiB.max} / ${r.workerRssMiB.peakHwm} MiB | < 256 MiB: ${ok(r.targets.rss)} |`,
    `| batches | ${r.batches.count}, p50 ${r.batches.p50Changes} changes, max ${r.batches.maxChanges} | |`,
  ].join('\n');
}
