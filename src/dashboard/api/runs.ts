import { z } from 'zod';
import type { Pool } from '../../db';
import { BadRequest, checkRange, day, limit, month, offset, text } from '../params';
import type { Api } from '../server';

// Runs: ops.pipeline_runs, ops.step_runs, ops.partitions, ops.rejected_rows (the run history the pipeline writes),
// the stream's lag when the stream's ops tables exist, and the cheap "last change" token the page polls.

const STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
const RUN_ID = /^[A-Za-z0-9._:-]{1,200}$/;

function runIdOf(params: Record<string, string>): string {
  const id = params.runId ?? '';
  if (!RUN_ID.test(id)) throw new BadRequest(`path parameter 'runId': expected a Temporal run id (letters, digits, '-', '_', '.', ':') (got ${JSON.stringify(id)})`);
  return id;
}

export function registerRuns(api: Api, pool: Pool, temporal: { uiUrl: string; namespace: string }): void {
  const base = temporal.uiUrl.replace(/\/$/, '');
  const ns = encodeURIComponent(temporal.namespace);
  const link = (workflowId: string, runId: string) => `${base}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;

  api(
    '/api/runs',
    {
      dataset: text.optional(),
      status: z.enum(STATUSES).optional(),
      trigger: text.optional(),
      period: month.optional(),
      from: day.optional(),
      to: day.optional(),
      limit: limit(500, 20),
      offset,
    },
    async (p) => {
      checkRange(p.from, p.to);
      const { rows } = await pool.query(
        `SELECT r.run_id, r.workflow_id, r.dataset, r.trigger, coalesce(r.period, 'full') AS period, r.status, r.from_step,
                r.started_at, r.finished_at,
                round(extract(epoch FROM (coalesce(r.finished_at, now()) - r.started_at)) * 1000)::bigint AS duration_ms,
                s.rows_read, coalesce(r.rows_loaded, s.rows_loaded) AS rows_loaded, rj.rows_rejected, r.period_rows,
                f.step AS failed_step, coalesce(f.error, r.error) AS error, count(*) OVER () AS total_rows
           FROM ops.pipeline_runs AS r
           LEFT JOIN LATERAL (SELECT sum(rows_in)::bigint AS rows_read, sum(rows_out)::bigint AS rows_loaded
                                FROM ops.step_runs WHERE run_id = r.run_id AND kind = 'load') AS s ON true
           LEFT JOIN LATERAL (SELECT count(*)::bigint AS rows_rejected FROM ops.rejected_rows WHERE run_id = r.run_id) AS rj ON true
           LEFT JOIN LATERAL (SELECT step, error FROM ops.step_runs WHERE run_id = r.run_id AND status = 'failed'
                               ORDER BY seq LIMIT 1) AS f ON true
          WHERE ($1::text IS NULL OR r.dataset = $1) AND ($2::text IS NULL OR r.status = $2) AND ($3::text IS NULL OR r.trigger = $3)
            AND ($4::text IS NULL OR r.period = $4)
            AND ($5::date IS NULL OR r.started_at >= $5::date) AND ($6::date IS NULL OR r.started_at < $6::date + 1)
          ORDER BY r.started_at DESC, r.run_id
          LIMIT $7 OFFSET $8`,
        [p.dataset ?? null, p.status ?? null, p.trigger ?? null, p.period ?? null, p.from ?? null, p.to ?? null, p.limit, p.offset],
      );
      const total = rows.length > 0 ? Number(rows[0].total_rows) : 0;
      for (const r of rows) {
        delete r.total_rows;
        r.web_ui_url = link(r.workflow_id, r.run_id);
      }
      return { total, limit: p.limit, offset: p.offset, rows };
    },
  );

  api('/api/runs/datasets', {}, async () => {
    const { rows } = await pool.query(
      `SELECT dataset, count(*)::int AS runs, count(*) FILTER (WHERE status = 'failed')::int AS failed,
              max(started_at) AS last_started_at
         FROM ops.pipeline_runs GROUP BY dataset ORDER BY dataset`,
    );
    return { rows };
  });

  api('/api/runs/:runId/steps', {}, async (_p, params) => {
    const runId = runIdOf(params);
    const { rows } = await pool.query(
      `SELECT seq, step, phase, kind, status, started_at, finished_at,
              round(extract(epoch FROM (finished_at - started_at)) * 1000)::bigint AS duration_ms, rows_in, rows_out, error
         FROM ops.step_runs WHERE run_id = $1 ORDER BY seq, step`,
      [runId],
    );
    return { run_id: runId, rows };
  });

  api('/api/runs/:runId/rejected', { source: text.optional(), limit: limit(500, 50), offset }, async (p, params) => {
    const runId = runIdOf(params);
    const { rows } = await pool.query(
      `SELECT source, file, row_number, errors, raw, count(*) OVER () AS total_rows
         FROM ops.rejected_rows WHERE run_id = $1 AND ($2::text IS NULL OR source = $2)
        ORDER BY source, row_number NULLS LAST, chunk, chunk_row
        LIMIT $3 OFFSET $4`,
      [runId, p.source ?? null, p.limit, p.offset],
    );
    const total = rows.length > 0 ? Number(rows[0].total_rows) : 0;
    for (const r of rows) {
      delete r.total_rows;
      r.errors = (r.errors as string[]).join('; ');
    }
    return { run_id: runId, total, limit: p.limit, offset: p.offset, rows };
  });

  api('/api/partitions', { dataset: text.optional(), from: month.optional(), to: month.optional() }, async (p) => {
    checkRange(p.from, p.to);
    const { rows } = await pool.query(
      `SELECT p.dataset, p.period, p.status, p.rows, p.updated_at, p.last_run_id, r.workflow_id, r.trigger
         FROM ops.partitions AS p LEFT JOIN ops.pipeline_runs AS r ON r.run_id = p.last_run_id
        WHERE ($1::text IS NULL OR p.dataset = $1) AND ($2::text IS NULL OR p.period >= $2) AND ($3::text IS NULL OR p.period <= $3)
        ORDER BY p.dataset, p.period`,
      [p.dataset ?? null, p.from ?? null, p.to ?? null],
    );
    for (const r of rows) r.web_ui_url = r.workflow_id ? link(r.workflow_id, r.last_run_id) : null;
    return { rows };
  });

  api('/api/stream', { dataset: text.optional(), from: day.optional(), to: day.optional() }, async (p) => {
    checkRange(p.from, p.to);
    // ops.streams and ops.stream_batches come with migration 040; the role may read them once its template has run
    // after that migration. Until a stream has written its row there is nothing to show.
    const { rows: ok } = await pool.query<{ ok: boolean }>(
      `SELECT coalesce(has_table_privilege(to_regclass('ops.streams'), 'SELECT') AND has_table_privilege(to_regclass('ops.stream_batches'), 'SELECT'), false) AS ok`,
    );
    if (!ok[0]!.ok) return { available: false, streams: [], rows: [] };
    // Lag: source commit to mart commit, per batch (its worst line); p50/p95/max over the batches in the period
    // (default: the last 100 of each stream). Batches that carried no source transaction (a rebuild after a
    // pipeline run published) have no lag and are left out.
    const streams = await pool.query(
      `SELECT s.dataset, s.status, s.applied_at, s.batches, s.changes, s.last_lag_ms, s.retained_wal_bytes, s.started_at, s.updated_at,
              (extract(epoch FROM clock_timestamp() - s.applied_at) * 1000)::float8 AS since_applied_ms,
              l.lag_p50_ms, l.lag_p95_ms, l.lag_max_ms, l.window_batches
         FROM ops.streams AS s
         LEFT JOIN LATERAL (
           SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY b.lag_ms)::float8 AS lag_p50_ms,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY b.lag_ms)::float8 AS lag_p95_ms,
                  max(b.lag_ms)::float8 AS lag_max_ms, count(*)::int AS window_batches
             FROM (SELECT lag_ms FROM ops.stream_batches
                    WHERE dataset = s.dataset AND transactions > 0 AND ($2::date IS NULL OR committed_at >= $2::date) AND ($3::date IS NULL OR committed_at < $3::date + 1)
                    ORDER BY batch_id DESC LIMIT CASE WHEN $2::date IS NULL AND $3::date IS NULL THEN 100 END) AS b
         ) AS l ON true
        WHERE ($1::text IS NULL OR s.dataset = $1)
        ORDER BY s.dataset`,
      [p.dataset ?? null, p.from ?? null, p.to ?? null],
    );
    const batches = await pool.query(
      `SELECT dataset, batch_id, committed_at, transactions, changes, orders_affected, lag_ms::float8 AS lag_ms, apply_ms::float8 AS apply_ms
         FROM ops.stream_batches
        WHERE transactions > 0 AND ($1::text IS NULL OR dataset = $1) AND ($2::date IS NULL OR committed_at >= $2::date) AND ($3::date IS NULL OR committed_at < $3::date + 1)
        ORDER BY committed_at DESC, batch_id DESC
        LIMIT 200`,
      [p.dataset ?? null, p.from ?? null, p.to ?? null],
    );
    return { available: streams.rows.length > 0, streams: streams.rows, rows: batches.rows };
  });

  api('/api/changes', {}, async () => {
    const { rows } = await pool.query(
      `SELECT (SELECT concat_ws('/', count(*), count(finished_at), max(started_at), max(finished_at)) FROM ops.pipeline_runs)
              || '/' || coalesce((SELECT max(updated_at)::text FROM ops.partitions), '') AS token`,
    );
    // A streamed change moves the marts without a run: the stream's last commit is part of the token.
    const stream = await pool
      .query(`SELECT coalesce(max(applied_at)::text, '') AS t FROM ops.streams`)
      .then((r) => r.rows[0].t as string)
      .catch(() => '');
    if (stream) rows[0].token += `/${stream}`;
    return { token: rows[0].token, rows: [] };
  });
}
