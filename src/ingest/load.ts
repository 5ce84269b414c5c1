import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { LoadResult } from '../contracts';
import type { Pool } from '../db';
import { withTransaction } from '../db';
import { InputError } from '../errors';
import { readerFor } from '../sources/readers';
import type { SourceSpec } from '../sources/types';
import { checkHeader, describeRowErrors, validateRecord } from '../sources/validate';
import { CopyBatcher, encodeCopyRow } from './copy';
import { quoteIdent, stagingDDL, stagingTable } from './staging';

export interface LoadContext {
  runId: string;
  workflowId: string;
  dataset: string;
  /** Called every few thousand rows and between phases; the activity turns it into a Temporal heartbeat. */
  heartbeat?: (progress: { phase: string; rowsRead: number }) => void;
}

const HEARTBEAT_EVERY_ROWS = 5000;

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function assertFileExists(file: string, displayName: string): Promise<void> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new InputError('SourceFileMissing', `${displayName}: not a regular file (${file})`, { file: displayName });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InputError('SourceFileMissing', `${displayName}: file not found in ${path.dirname(file)}`, { file: displayName });
    }
    throw err;
  }
}

/**
 * Loads one source file into its staging table: TRUNCATE + COPY + ledger row, all in one transaction.
 * A failed or retried load therefore leaves no partial data, and a rerun with the same file leaves the same rows.
 */
export async function loadSource(pool: Pool, spec: SourceSpec, sourceDir: string, ctx: LoadContext): Promise<LoadResult> {
  const started = new Date();
  const file = path.join(sourceDir, spec.file);
  const displayName = spec.file;
  await assertFileExists(file, displayName);
  ctx.heartbeat?.({ phase: 'hashing', rowsRead: 0 });
  const sha256 = await sha256File(file);

  const columns = Object.keys(spec.columns);
  const stream = await readerFor(spec.format)(file, { sheet: spec.sheet, displayName });
  checkHeader(spec, stream.header, displayName);

  let rowsRead = 0;
  let rowsLoaded = 0;
  const rowsRejected = 0;

  await withTransaction(pool, async (client) => {
    await client.query(stagingDDL(spec));
    await client.query(`TRUNCATE ${stagingTable(spec)}`);
    const copy = client.query(
      copyFrom(`COPY ${stagingTable(spec)} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`),
    );
    const done = finished(copy);
    // Keep a rejected COPY from surfacing as an unhandled rejection while we are still reading.
    done.catch(() => undefined);
    let copyError: Error | undefined;
    copy.on('error', (err) => (copyError = err));
    const batcher = new CopyBatcher(copy);
    try {
      for await (const record of stream.records) {
        if (copyError) throw copyError;
        rowsRead++;
        const result = validateRecord(spec, record);
        if (!result.ok) {
          // Quarantine seam: with a reject budget this records the row instead (see ops.rejected_rows).
          throw new InputError('SourceRowInvalid', describeRowErrors(displayName, record.row, result.errors), {
            file: displayName,
            row: record.row,
            errors: result.errors.map((e) => ({ column: e.column, message: e.message })),
          });
        }
        await batcher.push(encodeCopyRow(result.row, columns));
        rowsLoaded++;
        if (rowsRead % HEARTBEAT_EVERY_ROWS === 0) ctx.heartbeat?.({ phase: 'loading', rowsRead });
      }
      await batcher.flush();
      copy.end();
      await done;
    } catch (err) {
      copy.destroy(err as Error);
      throw translateCopyError(err, displayName, spec);
    }
    await client.query(
      `INSERT INTO ops.loads (run_id, workflow_id, dataset, source, file, sha256, rows_read, rows_loaded, rows_rejected, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
       ON CONFLICT (run_id, source) DO UPDATE SET
         workflow_id = EXCLUDED.workflow_id, file = EXCLUDED.file, sha256 = EXCLUDED.sha256,
         rows_read = EXCLUDED.rows_read, rows_loaded = EXCLUDED.rows_loaded, rows_rejected = EXCLUDED.rows_rejected,
         started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at`,
      [ctx.runId, ctx.workflowId, ctx.dataset, spec.name, displayName, sha256, rowsRead, rowsLoaded, rowsRejected, started],
    );
  });

  return {
    source: spec.name,
    file: displayName,
    table: `staging.${spec.name}`,
    sha256,
    rowsRead,
    rowsLoaded,
    rowsRejected,
    durationMs: Date.now() - started.getTime(),
  };
}

/** A primary-key clash inside one file is bad input, not a database fault: say which file and key. */
function translateCopyError(err: unknown, displayName: string, spec: SourceSpec): unknown {
  const pgErr = err as { code?: string; detail?: string; where?: string };
  if (pgErr.code === '23505') {
    return new InputError(
      'SourceDuplicateKey',
      `${displayName}: duplicate primary key (${spec.primaryKey.join(', ')}): ${pgErr.detail ?? 'a key appears twice'}`,
      { file: displayName },
    );
  }
  return err;
}
