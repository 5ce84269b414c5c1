import type pg from 'pg';
import type { DatasetSpec } from '../datasets/types';
import { withClient, withTransaction } from '../db';
import { InputError } from '../errors';
import { BUILD_SCHEMA, buildRelname, builtTables, discardBuild, swapIntoPlace, swapMonthIntoPlace } from './build';
import { buildInfo, readSqlFile } from './models';
import { monthBounds, parsePartition } from './partition';

// Write, audit, publish: the last step of a run. Every model of the run was built in gudang_build and checked there
// by its layer's gate; publishRun makes all of them the published tables at once, in one transaction, so readers
// see either the whole old warehouse or the whole new one, never a mix and never a table a gate refused.

export interface PublishResult {
  /** Published tables, in layer order. */
  tables: string[];
  durationMs: number;
}

/**
 * Publishes every table this run built (run tag `runTag`), in one transaction, under the dataset's publish lock.
 * A stateful model's build records the published table it read as {{ prior }}; if another run replaced that table
 * since, publishing would silently undo that run's work, so it is refused (InputError 'PublishConflict') and
 * nothing is published. Retry-safe: a retry after a commit whose reply was lost finds nothing left to publish.
 */
export async function publishRun(pool: pg.Pool, dataset: DatasetSpec, runTag: string): Promise<PublishResult> {
  const started = Date.now();
  const tables = await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gudang.publish:${dataset.name}`]);
    const built = await builtTables(client, runTag);
    const models = dataset.layers.flatMap((l) => l.models).filter((m) => built.has(buildRelname(m.table, runTag)));
    for (const model of models) {
      const build = `${BUILD_SCHEMA}.${buildRelname(model.table, runTag)}`;
      const { base, month } = await buildInfo(client, build);
      if (base !== undefined && base !== 'none') {
        const { rows } = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [model.table]);
        const now = rows[0]?.oid ?? 'absent';
        if (now !== base) {
          throw new InputError(
            'PublishConflict',
            `cannot publish ${model.table}: this run built it from the version published when it started, and another run of ` +
              `dataset ${dataset.name} has published a new one since; publishing would undo that run's changes. Nothing was published: rerun this run`,
            { model: model.name, table: model.table },
          );
        }
      }
      if (month) {
        // One month of a month-partitioned model: swap that partition only (partition.ts).
        const part = parsePartition(await readSqlFile(model.file), model.file);
        if (!part) throw new InputError('ConfigError', `model ${model.name} was built as one month but sql/${model.file} has no partition annotation`);
        await swapMonthIntoPlace(client, build, model.table, monthBounds(month), part.column, part.key);
      } else {
        await swapIntoPlace(client, build, model.table);
      }
    }
    return models.map((m) => m.table);
  });
  return { tables, durationMs: Date.now() - started };
}

/** Drops what a failed or cancelled run built: the published tables were never touched. Returns how many tables. */
export async function discardRun(pool: pg.Pool, runTag: string): Promise<number> {
  return withClient(pool, (client) => discardBuild(client, runTag));
}
