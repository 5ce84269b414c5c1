import { Context } from '@temporalio/activity';
import { FINDINGS_IN_SUMMARY } from '../src/contracts';
import type { Finding, RecordRunEndInput, RecordRunEndResult, RecordRunStartInput, RecordStepsInput, RunRecord } from '../src/contracts';
import { getDataset } from '../src/datasets';
import type { Pool } from '../src/db';
import { withTransaction } from '../src/db';
import { SQL_DIR } from '../src/warehouse/migrate';
import { readSqlFile, setRunParams } from '../src/warehouse/models';

// Run history in PostgreSQL: ops.pipeline_runs, ops.step_runs and ops.partitions (sql/migrations/020_*).
// The workflow calls these at its phase boundaries. Every write is an upsert keyed on the Temporal run id,
// so a retried activity rewrites its own rows and never adds a second one. Input and output types: src/contracts.ts.

/** The Temporal ids of the workflow run calling the activity. */
function currentRun(): { runId: string; workflowId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('run-history activities must be called from a workflow');
  return { runId: execution.runId, workflowId: execution.workflowId };
}

const UPSERT_RUN = `
  INSERT INTO ops.pipeline_runs (run_id, workflow_id, dataset, period, trigger, status, run_key, from_step, rerun_of, source_dir, started_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
  ON CONFLICT (run_id) DO UPDATE SET
    workflow_id = EXCLUDED.workflow_id, dataset = EXCLUDED.dataset, period = EXCLUDED.period, trigger = EXCLUDED.trigger,
    status = EXCLUDED.status, run_key = EXCLUDED.run_key, from_step = EXCLUDED.from_step, rerun_of = EXCLUDED.rerun_of,
    source_dir = EXCLUDED.source_dir, started_at = EXCLUDED.started_at`;

const UPSERT_STEPS = `
  INSERT INTO ops.step_runs (run_id, step, seq, phase, kind, status, started_at, finished_at, rows_in, rows_out, error)
  SELECT $1, s.step, s.seq, s.phase, s.kind, s.status, s."startedAt", s."finishedAt", s."rowsIn", s."rowsOut", s.error
  FROM json_to_recordset($2::json) AS s(step text, seq integer, phase text, kind text, status text, "startedAt" timestamptz,
                                        "finishedAt" timestamptz, "rowsIn" bigint, "rowsOut" bigint, error text)
  ON CONFLICT (run_id, step) DO UPDATE SET
    seq = EXCLUDED.seq, phase = EXCLUDED.phase, kind = EXCLUDED.kind, status = EXCLUDED.status,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, rows_in = EXCLUDED.rows_in,
    rows_out = EXCLUDED.rows_out, error = EXCLUDED.error`;

/** Upserts the period's ops.partitions row with a new status, keeping its row count unless one is given. */
const UPSERT_PARTITION = `
  INSERT INTO ops.partitions (dataset, period, last_run_id, status, rows, updated_at)
  VALUES ($1, $2, $3, $4, $5, now())
  ON CONFLICT (dataset, period) DO UPDATE SET
    last_run_id = EXCLUDED.last_run_id, status = EXCLUDED.status,
    rows = coalesce(EXCLUDED.rows, ops.partitions.rows), updated_at = now()`;

function runParams(runId: string, workflowId: string, run: RunRecord, status: string): unknown[] {
  return [
    runId,
    workflowId,
    run.dataset,
    run.period ?? null,
    run.trigger,
    status,
    run.runKey,
    run.fromStep ?? null,
    run.rerunOf ?? null,
    run.sourceDir,
    run.startedAt,
  ];
}

/** Fact rows per month after the run, from the dataset's partitions query (none when the dataset has none). */
async function countPartitions(pool: Pool, dataset: string, period: string | undefined): Promise<Map<string, number> | undefined> {
  const file = getDataset(dataset).partitionsQuery;
  if (file === undefined) return undefined;
  const sql = await readSqlFile(file, SQL_DIR);
  return withTransaction(pool, async (client) => {
    await setRunParams(client, { period });
    const { rows } = await client.query<{ period: string; rows: string | number }>(sql);
    return new Map(rows.map((r) => [r.period, Number(r.rows)]));
  });
}

/** The dataset's findings after the run, from its findings query (none when it has none). */
async function listFindings(pool: Pool, dataset: string, period: string | undefined): Promise<Finding[] | undefined> {
  const file = getDataset(dataset).findingsQuery;
  if (file === undefined) return undefined;
  const sql = await readSqlFile(file, SQL_DIR);
  return withTransaction(pool, async (client) => {
    await setRunParams(client, { period });
    const { rows } = await client.query<Finding>(sql);
    return rows.map((r) => ({ finding: String(r.finding), key: String(r.key), detail: String(r.detail) }));
  });
}

/** Run-history activities: each writes the calling run's rows in ops.*, keyed on its Temporal run id. */
export function createOpsActivities(pool: Pool) {
  return {
    /** The run's row (status running), its planned steps (pending or skipped) and, for a period run, the month as running. */
    async recordRunStart(input: RecordRunStartInput): Promise<void> {
      const { runId, workflowId } = currentRun();
      await withTransaction(pool, async (client) => {
        await client.query(UPSERT_RUN, runParams(runId, workflowId, input.run, 'running'));
        await client.query('UPDATE ops.pipeline_runs SET finished_at = NULL, error = NULL WHERE run_id = $1', [runId]);
        await client.query(UPSERT_STEPS, [runId, JSON.stringify(input.steps)]);
        if (input.run.period) await client.query(UPSERT_PARTITION, [input.run.dataset, input.run.period, runId, 'running', null]);
      });
    },

    /** Brings the run's step rows up to date (called after each phase). */
    async recordSteps(input: RecordStepsInput): Promise<void> {
      const { runId } = currentRun();
      await pool.query(UPSERT_STEPS, [runId, JSON.stringify(input.steps)]);
    },

    /**
     * How the run ended: its row, its steps and the months it loaded. After a completed period run the month is
     * "loaded" with its fact rows; after a completed full run every month in the fact is, and months no longer in
     * it get 0 rows. A failed or cancelled period run marks its month failed/cancelled (rows unchanged).
     */
    async recordRunEnd(input: RecordRunEndInput): Promise<RecordRunEndResult> {
      const { runId, workflowId } = currentRun();
      const { run } = input;
      const counts = input.status === 'completed' ? await countPartitions(pool, run.dataset, run.period) : undefined;
      const findings = input.status === 'completed' ? await listFindings(pool, run.dataset, run.period) : undefined;
      const partitions: Record<string, number> = {};
      if (counts) {
        if (run.period) partitions[run.period] = counts.get(run.period) ?? 0;
        else for (const [period, rows] of counts) partitions[period] = rows;
      }
      const rowsLoaded = input.steps
        .filter((s) => s.kind === 'load' && s.status === 'completed')
        .reduce((sum, s) => sum + (s.rowsOut ?? 0), 0);
      const hasLoads = input.steps.some((s) => s.kind === 'load' && s.status === 'completed');
      const periodRows = counts ? Object.values(partitions).reduce((a, b) => a + b, 0) : null;

      await withTransaction(pool, async (client) => {
        await client.query(UPSERT_RUN, runParams(runId, workflowId, run, input.status));
        await client.query(
          `UPDATE ops.pipeline_runs SET finished_at = $2, error = $3, rows_loaded = $4, period_rows = $5 WHERE run_id = $1`,
          [runId, input.finishedAt, input.error ?? null, hasLoads ? rowsLoaded : null, periodRows],
        );
        await client.query(UPSERT_STEPS, [runId, JSON.stringify(input.steps)]);
        if (input.status === 'completed' && counts) {
          for (const [period, rows] of Object.entries(partitions)) {
            await client.query(UPSERT_PARTITION, [run.dataset, period, runId, 'loaded', rows]);
          }
          if (!run.period) {
            // A full refresh replaced every month: a month that is no longer in the source has no rows now.
            await client.query(
              `UPDATE ops.partitions SET last_run_id = $2, status = 'loaded', rows = 0, updated_at = now()
               WHERE dataset = $1 AND NOT (period = ANY ($3::text[]))`,
              [run.dataset, runId, Object.keys(partitions)],
            );
          }
        } else if (run.period) {
          const status = input.status === 'completed' ? 'loaded' : input.status;
          await client.query(UPSERT_PARTITION, [run.dataset, run.period, runId, status, null]);
        }
        if (findings) {
          await client.query('DELETE FROM ops.findings WHERE run_id = $1', [runId]);
          await client.query(
            `INSERT INTO ops.findings (dataset, run_id, period, finding, key, detail)
             SELECT $1, $2, $3, f.finding, f.key, f.detail FROM jsonb_to_recordset($4::jsonb) AS f (finding text, key text, detail text)
             ON CONFLICT (run_id, finding, key) DO UPDATE SET detail = EXCLUDED.detail`,
            [run.dataset, runId, run.period ?? null, JSON.stringify(findings)],
          );
        }
      });
      return findings ? { partitions, findings: { total: findings.length, items: findings.slice(0, FINDINGS_IN_SUMMARY) } } : { partitions };
    },
  };
}
