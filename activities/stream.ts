import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { StreamProgress } from '../src/contracts-stream';
import { getDataset } from '../src/datasets';
import type { Pool } from '../src/db';
import { resolveSourceDb, sourceDbLocator } from '../src/sources/database';
import { streamTarget } from '../src/stream/apply';
import { runStretch } from '../src/stream/capture';
import { dropSource, prepareSource } from '../src/stream/source';
import { failFastOnBadInput, heartbeating } from './common';

// The real-time stream's activities (workflows/stream.ts). The source database travels as its locator (URL without
// password); the password is added here, on the worker, from its environment (src/sources/database.ts).

export interface PrepareStreamInput {
  dataset: string;
  sourceDb: string;
  workflowId: string;
}

export interface RunStreamInput {
  dataset: string;
  sourceDb: string;
  stretchMs: number;
}

export interface FinishStreamInput {
  dataset: string;
  sourceDb: string;
  dropSlot: boolean;
  status: 'stopped' | 'failed';
}

export function createStreamActivities(pool: Pool) {
  return {
    /**
     * Publication and slot on the source (created when missing), the stream's row in ops.streams. When the slot is
     * new, the stream's applied position is forgotten (a new slot starts a new sequence) and `created` tells the
     * workflow to load the warehouse from the source once: every change committed after the slot's creation
     * arrives through the slot, every row committed before it through that load.
     */
    async prepareStream(input: PrepareStreamInput): Promise<{ created: boolean; slot: string }> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        await streamTarget(spec); // the registry entry is sound before anything is created
        const db = resolveSourceDb(input.sourceDb);
        const prepared = await prepareSource(db, spec.name, spec.stream!);
        await pool.query(
          `INSERT INTO ops.streams (dataset, source_db, slot_name, publication, workflow_id, status)
           VALUES ($1, $2, $3, $4, $5, 'starting')
           ON CONFLICT (dataset) DO UPDATE SET source_db = EXCLUDED.source_db, slot_name = EXCLUDED.slot_name, publication = EXCLUDED.publication,
                  workflow_id = EXCLUDED.workflow_id, status = 'starting', updated_at = now(),
                  applied_lsn = CASE WHEN $6 OR ops.streams.source_db <> EXCLUDED.source_db THEN NULL ELSE ops.streams.applied_lsn END,
                  tables_version = CASE WHEN $6 THEN NULL ELSE ops.streams.tables_version END,
                  started_at = CASE WHEN $6 THEN now() ELSE ops.streams.started_at END`,
          [spec.name, sourceDbLocator(input.sourceDb), prepared.slot, prepared.publication, input.workflowId, prepared.created],
        );
        return { created: prepared.created, slot: prepared.slot };
      });
    },

    /** Captures and applies for stretchMs (heartbeating every second), then returns what it did. */
    async runStream(input: RunStreamInput): Promise<StreamProgress> {
      return failFastOnBadInput(() =>
        heartbeating(async (beat) => {
          const ctx = Context.current();
          const spec = getDataset(input.dataset);
          const target = await streamTarget(spec);
          const db = resolveSourceDb(input.sourceDb);
          const { rows } = await pool.query<{ slot_name: string; publication: string }>(`SELECT slot_name, publication FROM ops.streams WHERE dataset = $1`, [spec.name]);
          if (!rows[0]) throw new Error(`ops.streams has no row for dataset ${spec.name}: the stream was not prepared`);
          const progress = await runStretch({
            pool,
            db,
            target,
            slot: rows[0].slot_name,
            publication: rows[0].publication,
            stretchMs: input.stretchMs,
            signal: ctx.cancellationSignal,
            onProgress: (p) => beat({ phase: 'streaming', ...p }),
            log: (line) => ctx.log.warn(line),
          });
          // stopped: the batches in hand are committed and confirmed; the workflow waits for this to finish
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('stream stopped');
          return progress;
        }),
      );
    },

    /** Marks the stream stopped (or failed) and, when asked, drops the slot and the publication on the source. */
    async finishStream(input: FinishStreamInput): Promise<{ slotDropped: boolean }> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        let slotDropped = false;
        if (input.dropSlot) slotDropped = await dropSource(resolveSourceDb(input.sourceDb), spec.name);
        await pool.query(
          `UPDATE ops.streams SET status = $2, updated_at = now(), applied_lsn = CASE WHEN $3 THEN NULL ELSE applied_lsn END WHERE dataset = $1`,
          [spec.name, input.status, slotDropped],
        );
        return { slotDropped };
      });
    },
  };
}
