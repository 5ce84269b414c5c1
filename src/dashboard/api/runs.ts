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

  api('/api/stream', {}, async () => {
    // The stream keeps its state in ops tables named stream_*; until one holds a row (a stream has run, and the role
    // may read it) there is nothing to show. Table names come from the catalog, never from the request.
    const { rows: tables } = await pool.query<{ name: string; ts: string | null }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name,
              (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype) ORDER BY a.attnum DESC LIMIT 1) AS ts
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'ops' AND c.relname LIKE 'stream\\_%' AND c.relkind IN ('r', 'p', 'v')
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY c.relname`,
    );
    const rows: Record<string, unknown>[] = [];
    for (const t of tables) {
      const order = t.ts ? `ORDER BY ${quoteIdent(t.ts)} DESC NULLS LAST` : '';
      const latest = await pool.query(`SELECT * FROM ${t.name} ${order} LIMIT 5`);
      for (const r of latest.rows) rows.push({ table: t.name, ...r });
    }
    return { available: rows.length > 0, rows };
  });

  api('/api/changes', {}, async () => {
    const { rows } = await pool.query(
      `SELECT (SELECT concat_ws('/', count(*), count(finished_at), max(started_at), max(finished_at)) FROM ops.pipeline_runs)
              || '/' || coalesce((SELECT max(updated_at)::text FROM ops.partitions), '') AS token`,
    );
    return { token: rows[0].token, rows: [] };
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
