import type { Pool, PoolClient } from '../../db';
import type { SourceSpec } from '../../sources/types';
import type { LoadPlan } from '../plan';
import { stagingTable } from '../staging';

// Incremental reads from a source database (DatabaseSourceSpec.watermarkColumn). ops.source_watermarks holds, per
// dataset and source, the highest watermark value staging holds and where it came from (locator, table, column).
// A read of the same database, table and column starts above it; any other load that replaces staging (a file,
// another database, a read without a watermark column) forgets it, so the next read is full again. A period read
// leaves it alone: it replaces one month of staging with that month as the source has it now, which can only add
// rows above the watermark, and those are read again (and merged, changing nothing) by the next incremental read.

/** The watermark to read above, or undefined for a full read (no watermark, another source, or no staging table). */
export async function previousWatermark(pool: Pool, spec: SourceSpec, dataset: string, locator: string, table: string, column: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ watermark: string }>(
    `SELECT w.watermark FROM ops.source_watermarks w
      WHERE w.dataset = $1 AND w.source = $2 AND w.source_db = $3 AND w.source_table = $4 AND w.watermark_column = $5
        AND to_regclass($6) IS NOT NULL`,
    [dataset, spec.name, locator, table, column, stagingTable(spec)],
  );
  return rows[0]?.watermark;
}

/** In publish's transaction: what staging now holds, for the next read. */
export async function recordWatermark(client: PoolClient, plan: LoadPlan, rowsRead: number): Promise<void> {
  const read = plan.dbRead!;
  const w = read.watermark!;
  if (w.upTo === undefined) {
    // a full read of an empty table: nothing to start above next time
    await forgetWatermark(client, plan.dataset, plan.source);
    return;
  }
  await client.query(
    `INSERT INTO ops.source_watermarks (dataset, source, source_db, source_table, watermark_column, watermark, previous, rows_read, run_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (dataset, source) DO UPDATE SET source_db = EXCLUDED.source_db, source_table = EXCLUDED.source_table,
       watermark_column = EXCLUDED.watermark_column, watermark = EXCLUDED.watermark, previous = EXCLUDED.previous,
       rows_read = EXCLUDED.rows_read, run_id = EXCLUDED.run_id, updated_at = now()`,
    [plan.dataset, plan.source, read.locator, read.table, w.column, w.upTo, w.above ?? null, rowsRead, plan.runId],
  );
}

export async function forgetWatermark(client: PoolClient, dataset: string, source: string): Promise<void> {
  await client.query(`DELETE FROM ops.source_watermarks WHERE dataset = $1 AND source = $2`, [dataset, source]);
}
