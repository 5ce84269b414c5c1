import type { LoadResult } from '../contracts';
import type { Pool, PoolClient } from '../db';
import { InputError } from '../errors';
import { withClient, withTransaction } from '../db';
import type { SourceSpec } from '../sources/types';
import { parseRejectBudget, withinBudget } from './budget';
import { addRowKeysDDL, qualifiedLanding, rawWithoutRowKeys, ROW_KEY_COLUMNS } from './landing';
import type { LoadPlan } from './plan';
import { readPlan } from './plan';
import { mergeNewRowsIntoStaging, mergePeriodIntoStaging } from './db/merge';
import { forgetWatermark, recordWatermark } from './db/watermark';
import { quoteIdent, stagingSchema, stagingTable } from './staging';
import type { ActiveRelation } from './relations';
import { REJECTED_FOR_ITSELF, findOrphans, quarantineChildren, recordOrphans } from './relations';

// Publishing a load: the landing table becomes staging.<source>, in one transaction, or nothing happens.
//
// 1. Row numbers: each chunk counted its rows; the file row number of a rejected row is its chunk's row plus the
//    rows of the chunks before it (every chunk is finished, so those counts are exact).
// 2. Primary key: CREATE UNIQUE INDEX on the landing table (a sort of the loaded rows: faster than keeping a btree
//    up to date during COPY). If a key appears twice, the rows were loaded without their row numbers (the fast path
//    ships bytes as read), so the load goes round once more in row-keys mode (each line carries _chunk, _row, _line)
//    and this step then moves every later occurrence of a key to ops.rejected_rows, with its row and line
//    ("duplicate primary key order_id=5, first seen at row 3 (line 4)") before building the index.
// 3. Reject budget: over it, the load fails (non-retryable) naming the file, the count, the commonest reasons and
//    the first rows; its landing table is dropped, its rejected rows stay for inspection.
// 4. Swap: DROP the old staging table, move the landing table into staging under its name, promote the index to
//    its primary key, record ops.loads, mark the plan published, COMMIT. When the old table cannot be dropped
//    (a view depends on it, or another role owns it) the rows are copied instead (TRUNCATE + INSERT ... SELECT) in
//    the same transaction. Then ANALYZE.
// Every step is safe to repeat: a retried publish finds the index built, the duplicates moved, or the load
// published (and returns the stored result).

export type PublishOutcome =
  | { status: 'published'; result: LoadResult; timings: PublishTimings }
  | { status: 'reload'; reason: string; timings: PublishTimings };

export interface PublishTimings {
  indexMs: number;
  dedupMs: number;
  swapMs: number;
  analyzeMs: number;
}

export interface PublishOptions {
  workflowId?: string;
  heartbeat?: (details: Record<string, unknown>) => void;
  /** Let a load with no rows replace the staging table (an empty delivery); without it such a load fails. */
  allowEmpty?: boolean;
  /**
   * The relations in which this source is the child (src/ingest/relations.ts): checked against parents published in
   * the same run. Absent: none.
   */
  relations?: readonly ActiveRelation[];
}

interface ChunkState {
  chunk: number;
  rows_read: string;
  rows_loaded: string;
  rows_rejected: string;
  lines_done: string;
  status: string;
}

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;

function pkIndexName(plan: LoadPlan): string {
  return `${plan.landingTable}_pk`;
}

/** Drops the landing table of a load that will not be published and marks it failed. Rejected rows are kept. */
export async function discardLoad(pool: Pool, runId: string, source: string): Promise<boolean> {
  const plan = await readPlan(pool, runId, source);
  if (!plan || plan.status === 'published') return false;
  await withTransaction(pool, async (client) => {
    await client.query(`DROP TABLE IF EXISTS ${qualifiedLanding(plan.landingTable)}`);
    await client.query(`UPDATE ops.load_plans SET status = 'failed', updated_at = now() WHERE run_id = $1 AND source = $2 AND status <> 'published'`, [runId, source]);
  });
  return true;
}

/** Most common reasons and first rejected rows of a load, for its result and its failure message. */
async function rejectSummary(db: Pool | PoolClient, plan: LoadPlan) {
  const kinds = await db.query<{ kind: string; rows: string }>(
    `SELECT k AS kind, count(*) AS rows FROM ops.rejected_rows r, unnest(r.kinds) AS k
      WHERE r.run_id = $1 AND r.source = $2 AND ${REJECTED_FOR_ITSELF} GROUP BY k ORDER BY count(*) DESC, k LIMIT 5`,
    [plan.runId, plan.source],
  );
  const first = await db.query<{ row_number: string; line_number: string | null; errors: string[] }>(
    `SELECT row_number, line_number, errors FROM ops.rejected_rows r WHERE run_id = $1 AND source = $2 AND row_number IS NOT NULL AND ${REJECTED_FOR_ITSELF}
      ORDER BY row_number LIMIT 10`,
    [plan.runId, plan.source],
  );
  const count = await db.query<{ n: string; q: string }>(
    `SELECT count(*) FILTER (WHERE ${REJECTED_FOR_ITSELF}) AS n, count(*) FILTER (WHERE NOT ${REJECTED_FOR_ITSELF}) AS q
       FROM ops.rejected_rows r WHERE run_id = $1 AND source = $2`,
    [plan.runId, plan.source],
  );
  return {
    rejected: Number(count.rows[0]!.n),
    quarantined: Number(count.rows[0]!.q),
    kinds: kinds.rows.map((k) => ({ kind: k.kind, rows: Number(k.rows) })),
    firstRows: first.rows.map((r) => Number(r.row_number)),
    firstErrors: first.rows[0]?.errors ?? [],
    firstLine: first.rows[0]?.line_number == null ? undefined : Number(first.rows[0].line_number),
  };
}

/** Reports the publish step about to run; the activity's heartbeat loop (activities/common.ts) repeats it while it runs. */
async function beating<T>(opts: PublishOptions, step: string, fn: () => Promise<T>): Promise<T> {
  opts.heartbeat?.({ phase: 'publishing', step });
  return fn();
}

/**
 * Moves every later occurrence of a primary key to ops.rejected_rows (row-keys mode: rows carry _chunk, _row, _line),
 * with its file row and line (`offsets`, `lineOffsets`: the rows and lines before each chunk).
 */
async function moveDuplicates(pool: Pool, spec: SourceSpec, plan: LoadPlan, offsets: Map<number, number>, lineOffsets: Map<number, number>): Promise<number> {
  const landing = qualifiedLanding(plan.landingTable);
  const pk = spec.primaryKey.map(quoteIdent);
  const pkList = pk.map((c) => `l.${c}`).join(', ');
  const keyText = spec.primaryKey.map((c, i) => `${sqlText(`${i > 0 ? ', ' : ''}${c}=`)} || coalesce(l.${quoteIdent(c)}::text, 'NULL')`).join(' || ');
  return withTransaction(pool, async (client) => {
    await client.query(
      `CREATE TEMP TABLE gudang_dups ON COMMIT DROP AS
       SELECT l.ctid AS tid, l._chunk AS chunk, l._row AS chunk_row, o.off + l._row AS row_number,
              l._line AS chunk_line, o.line_off + l._line AS line_number,
              min(o.off + l._row) OVER (PARTITION BY ${pkList}) AS first_row,
              first_value(o.line_off + l._line) OVER (PARTITION BY ${pkList} ORDER BY o.off + l._row) AS first_line,
              ${keyText} AS key_text,
              ${rawWithoutRowKeys('l')} AS raw
         FROM ${landing} AS l
         JOIN unnest($1::int[], $2::bigint[], $3::bigint[]) AS o(chunk, off, line_off) ON o.chunk = l._chunk
        WHERE (${pkList}) IN (SELECT ${pk.join(', ')} FROM ${landing} GROUP BY ${pk.join(', ')} HAVING count(*) > 1)`,
      [[...offsets.keys()], [...offsets.values()], [...offsets.keys()].map((c) => lineOffsets.get(c) ?? 0)],
    );
    await client.query(
      `INSERT INTO ops.rejected_rows (run_id, source, file, chunk, chunk_row, chunk_line, row_number, line_number, raw, errors, kinds)
       SELECT $1, $2, $3, chunk, chunk_row, chunk_line, row_number, line_number, raw,
              ARRAY['duplicate primary key ' || key_text || ', first seen at row ' || first_row || coalesce(' (line ' || first_line || ')', '')],
              ARRAY['duplicate primary key']
         FROM gudang_dups WHERE row_number > first_row
       ON CONFLICT DO NOTHING`,
      [plan.runId, plan.source, plan.file],
    );
    const del = await client.query(`DELETE FROM ${landing} AS l USING gudang_dups AS d WHERE l.ctid = d.tid AND d.row_number > d.first_row`);
    if (del.rowCount) {
      await client.query(
        `UPDATE ops.load_plans SET updated_at = now() WHERE run_id = $1 AND source = $2`,
        [plan.runId, plan.source],
      );
    }
    return del.rowCount ?? 0;
  });
}

/** Starts the load over in row-keys mode: empty landing table with _chunk/_row/_line, chunks back to their start. */
async function switchToRowKeys(pool: Pool, plan: LoadPlan): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(`TRUNCATE ${qualifiedLanding(plan.landingTable)}`);
    await client.query(addRowKeysDDL(plan.landingTable));
    await client.query(`DELETE FROM ops.rejected_rows WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
    await client.query(
      `UPDATE ops.load_chunks SET byte_done = byte_start, rows_read = 0, rows_loaded = 0, rows_rejected = 0, lines_done = 0, status = 'pending',
              owner_token = NULL, finished_at = NULL, updated_at = now()
        WHERE run_id = $1 AND source = $2`,
      [plan.runId, plan.source],
    );
    await client.query(`UPDATE ops.load_plans SET mode = 'rowkeys', updated_at = now() WHERE run_id = $1 AND source = $2`, [plan.runId, plan.source]);
  });
}

function overBudgetMessage(plan: LoadPlan, read: number, stopped: boolean, s: Awaited<ReturnType<typeof rejectSummary>>): string {
  const budget = parseRejectBudget(plan.rejectBudget);
  const budgetText = budget.kind === 'rows' ? `${budget.rows} row(s)` : `${budget.percent}% of rows read`;
  const counted = stopped ? `${s.rejected} row(s) rejected before the load stopped` : `${s.rejected} of ${read} row(s) rejected`;
  const kinds = s.kinds.map((k) => `${k.kind} (${k.rows})`).join(', ');
  const rows = s.firstRows.length ? `; first rejected row(s): ${s.firstRows.join(', ')}` : '';
  const first = s.firstRows.length ? `; row ${s.firstRows[0]}${s.firstLine !== undefined ? ` (line ${s.firstLine})` : ''}: ${s.firstErrors.join('; ')}` : '';
  return `${plan.file}: ${counted}, over the reject budget of ${budgetText}; most common: ${kinds}${rows}${first} (all in ops.rejected_rows, run ${plan.runId})`;
}

/**
 * Publishes a load whose chunks are all finished. Returns 'reload' when duplicate keys were found in a load made
 * without row keys: the caller loads every chunk again (now in row-keys mode) and publishes again.
 */
export async function publishLoad(pool: Pool, spec: SourceSpec, runId: string, opts: PublishOptions = {}): Promise<PublishOutcome> {
  const timings: PublishTimings = { indexMs: 0, dedupMs: 0, swapMs: 0, analyzeMs: 0 };
  const plan = await readPlan(pool, runId, spec.name);
  if (!plan) throw new Error(`no load planned for source ${spec.name} in run ${runId}`);
  if (plan.status === 'published') {
    const stored = await pool.query<{ result: LoadResult }>(`SELECT result FROM ops.load_plans WHERE run_id = $1 AND source = $2`, [runId, spec.name]);
    return { status: 'published', result: stored.rows[0]!.result, timings };
  }
  if (plan.status !== 'loading') throw new Error(`the load of ${spec.name} in run ${runId} is ${plan.status}: nothing to publish`);

  const chunks = (
    await pool.query<ChunkState>(
      `SELECT chunk, rows_read, rows_loaded, rows_rejected, lines_done, status FROM ops.load_chunks WHERE run_id = $1 AND source = $2 ORDER BY chunk`,
      [runId, spec.name],
    )
  ).rows;
  const unfinished = chunks.filter((c) => c.status !== 'done' && c.status !== 'stopped');
  if (unfinished.length > 0) throw new Error(`cannot publish ${spec.name}: chunk(s) ${unfinished.map((c) => c.chunk).join(', ')} not finished`);
  const offsets = new Map<number, number>();
  // CSV chunks count their lines from their own start; JSON records carry their line in the file
  const lineOffsets = new Map<number, number>();
  let read = 0;
  let lines = (plan.firstLine ?? 1) - 1;
  for (const c of chunks) {
    offsets.set(c.chunk, read);
    read += Number(c.rows_read);
    lineOffsets.set(c.chunk, plan.format === 'csv' ? lines : 0);
    lines += Number(c.lines_done);
  }
  const stopped = chunks.some((c) => c.status === 'stopped');

  // 1. file row (and line) numbers of the rejected rows
  await pool.query(
    `UPDATE ops.rejected_rows AS r SET row_number = r.chunk_row + o.off, line_number = r.chunk_line + o.line_off
       FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS o(chunk, off, line_off)
      WHERE r.run_id = $1 AND r.source = $2 AND r.chunk = o.chunk AND r.row_number IS NULL`,
    [runId, spec.name, [...offsets.keys()], [...offsets.values()], [...lineOffsets.values()]],
  );

  const budget = parseRejectBudget(plan.rejectBudget);
  const failOverBudget = async (): Promise<never> => {
    const summary = await rejectSummary(pool, plan);
    await discardLoad(pool, runId, spec.name);
    throw new InputError('SourceRowInvalid', overBudgetMessage(plan, read, stopped, summary), {
      file: plan.file,
      source: spec.name,
      rowsRead: read,
      rowsRejected: summary.rejected,
      rejectBudget: plan.rejectBudget,
      kinds: summary.kinds,
      firstRejectedRows: summary.firstRows,
    });
  };
  if (stopped) await failOverBudget();

  // 2. primary key, and duplicates
  const landing = qualifiedLanding(plan.landingTable);
  const index = pkIndexName(plan);
  // One sort of the loaded keys. With the default maintenance_work_mem (64 MB) 10M keys spill to disk; 256 MB keeps
  // them in memory (a setting of this transaction only; never lowered).
  const createIndex = () =>
    withTransaction(pool, async (client) => {
      await client.query(
        `SELECT set_config('maintenance_work_mem', '256MB', true) FROM pg_settings WHERE name = 'maintenance_work_mem' AND setting::bigint < 262144`,
      );
      await client.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIdent(index)} ON ${landing} (${spec.primaryKey.map(quoteIdent).join(', ')})`);
    });
  // 5, started now: the orphans need no key, so they are counted while it is built, and counted again below only if
  // duplicates or quarantined children leave the landing table first (issue 14: 0.16 s at 1M order lines)
  const countOrphans = () => (opts.relations?.length ? withClient(pool, (client) => findOrphans(client, spec, plan, opts.relations!)) : Promise.resolve({ counts: [], keys: [] }));
  const early = countOrphans();
  early.catch(() => undefined);
  let changed = false;
  let t = Date.now();
  try {
    await beating(opts, 'primary key', createIndex);
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    timings.indexMs = Date.now() - t;
    if (plan.mode === 'plain') {
      await switchToRowKeys(pool, plan);
      return { status: 'reload', reason: `duplicate primary key in ${plan.file}: loading again with row numbers to name them`, timings };
    }
    t = Date.now();
    changed = (await beating(opts, 'duplicates', () => moveDuplicates(pool, spec, plan, offsets, lineOffsets))) > 0;
    timings.dedupMs = Date.now() - t;
    t = Date.now();
    await beating(opts, 'primary key', createIndex);
  }
  timings.indexMs += Date.now() - t;

  // 3. children of rejected parents (quarantined with them; named by row number, so a plain load goes round again)
  if (opts.relations?.length) {
    const relations = opts.relations;
    t = Date.now();
    const matched = await beating(opts, 'parents', () => withTransaction(pool, (client) => quarantineChildren(client, spec, plan, relations, offsets, lineOffsets)));
    timings.dedupMs += Date.now() - t;
    changed ||= matched > 0;
    if (matched > 0 && plan.mode === 'plain') {
      await switchToRowKeys(pool, plan);
      return { status: 'reload', reason: `${matched} row(s) of ${plan.file} belong to parent rows rejected in this run: loading again with row numbers to name them`, timings };
    }
  }

  // 4. the budget, counting duplicates (not the quarantined children: their parent was counted)
  const counted = await rejectSummary(pool, plan);
  const rejected = counted.rejected;
  const quarantined = counted.quarantined;
  if (!withinBudget(budget, rejected, read)) await failOverBudget();
  const loaded = read - rejected - quarantined;
  // an incremental read (rows above the watermark of the last read) adds to staging; finding nothing new is normal
  const incremental = plan.dbRead?.watermark?.above !== undefined && !plan.dbRead.periodKey;
  if (loaded === 0 && !opts.allowEmpty && !incremental) {
    // An empty delivery would silently empty staging and every fact and mart built from it.
    await discardLoad(pool, runId, spec.name);
    const why = read === 0 ? 'has no data rows (an empty or header-only delivery)' : `has no valid rows (all ${read} row(s) rejected)`;
    throw new InputError('SourceFormatError', `${plan.file}: ${why}: loading it would empty ${stagingTable(spec).replace(/"/g, '')} and everything built from it; refused (start the run with --allow-empty to load an empty source)`, {
      file: plan.file,
      source: spec.name,
      rowsRead: read,
    });
  }

  // 5. orphans: rows whose parent is missing (they load; counted and listed)
  const orphans = changed ? await countOrphans() : await early;

  // 6. swap into staging
  t = Date.now();
  const summary = counted;
  const created = await pool.query<{ created_at: Date }>(`SELECT created_at FROM ops.load_plans WHERE run_id = $1 AND source = $2`, [runId, spec.name]);
  const startedAt = created.rows[0]!.created_at;
  const result: LoadResult = {
    source: spec.name,
    file: plan.file,
    table: `${stagingSchema(spec)}.${spec.name}`,
    sha256: plan.sha256,
    rowsRead: read,
    rowsLoaded: loaded,
    rowsRejected: rejected,
    durationMs: 0,
    chunks: chunks.length,
    rejectBudget: plan.rejectBudget,
    rejectKinds: summary.kinds,
    firstRejectedRows: summary.firstRows,
    ...(quarantined > 0 ? { rowsQuarantined: quarantined } : {}),
    ...(opts.relations?.length ? { orphans: orphans.counts } : {}),
  };
  await beating(opts, 'swap', () =>
    withTransaction(pool, async (client) => {
      if (plan.mode === 'rowkeys') await client.query(`ALTER TABLE ${landing} ${ROW_KEY_COLUMNS.map((c) => `DROP COLUMN IF EXISTS ${c}`).join(', ')}`);
      const target = stagingTable(spec);
      const pkName = quoteIdent(`${spec.name}_pkey`);
      // The swap needs the old table to itself for a moment: wait for its readers, but not forever (the activity
      // fails, is retried later, and nothing has changed meanwhile).
      await client.query(`SET LOCAL lock_timeout = '60s'`);
      // a period read from a source database replaces only that month's rows, an incremental read adds its rows
      // (src/ingest/db/merge.ts); everything else replaces the table
      const merged = Boolean(plan.dbRead?.periodKey) || incremental;
      if (plan.dbRead?.periodKey) result.repaired = await mergePeriodIntoStaging(client, spec, plan, startedAt);
      else if (incremental) result.watermark = { ...plan.dbRead!.watermark!, ...(await mergeNewRowsIntoStaging(client, spec, plan, startedAt)) };
      else await client.query('SAVEPOINT swap');
      if (!merged) try {
        await client.query(`DROP TABLE IF EXISTS ${target}`);
        const schema = quoteIdent(stagingSchema(spec));
        await client.query(`ALTER TABLE ${landing} SET SCHEMA ${schema}`);
        await client.query(`ALTER TABLE ${schema}.${quoteIdent(plan.landingTable)} RENAME TO ${quoteIdent(spec.name)}`);
        await client.query(`ALTER TABLE ${target} ADD CONSTRAINT ${pkName} PRIMARY KEY USING INDEX ${quoteIdent(index)}`);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // 2BP01: other objects depend on the table; 42501: not its owner. Keep the table, replace its rows.
        if (code !== '2BP01' && code !== '42501') throw err;
        await client.query('ROLLBACK TO SAVEPOINT swap');
        const cols = Object.keys(spec.columns).map(quoteIdent).join(', ');
        await client.query(`TRUNCATE ${target}`);
        await client.query(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${landing}`);
        await client.query(`DROP TABLE ${landing}`);
      }
      // what staging now holds up to, for the next read (a period read leaves the watermark as it was)
      if (plan.dbRead?.watermark && !plan.dbRead.periodKey) {
        result.watermark ??= { ...plan.dbRead.watermark };
        await recordWatermark(client, plan, read);
      } else if (!plan.dbRead?.periodKey) await forgetWatermark(client, plan.dataset, spec.name);
      result.durationMs = Date.now() - startedAt.getTime();
      await client.query(
        `INSERT INTO ops.loads (run_id, workflow_id, dataset, source, file, sha256, rows_read, rows_loaded, rows_rejected, started_at, finished_at,
                                source_uri, size_bytes, etag, rows_quarantined, orphans)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11, $12, $13, $14, $15)
         ON CONFLICT (run_id, source) DO UPDATE SET
           workflow_id = EXCLUDED.workflow_id, file = EXCLUDED.file, sha256 = EXCLUDED.sha256,
           rows_read = EXCLUDED.rows_read, rows_loaded = EXCLUDED.rows_loaded, rows_rejected = EXCLUDED.rows_rejected,
           started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
           source_uri = EXCLUDED.source_uri, size_bytes = EXCLUDED.size_bytes, etag = EXCLUDED.etag,
           rows_quarantined = EXCLUDED.rows_quarantined, orphans = EXCLUDED.orphans`,
        [
          runId, opts.workflowId ?? '', plan.dataset, spec.name, plan.file, plan.sha256, read, loaded, rejected, startedAt, plan.sourceUri, plan.sizeBytes, plan.etag ?? null,
          quarantined, opts.relations?.length ? JSON.stringify(orphans.counts) : null,
        ],
      );
      await recordOrphans(client, plan, orphans.keys);
      await client.query(`UPDATE ops.load_plans SET status = 'published', result = $3, updated_at = now() WHERE run_id = $1 AND source = $2`, [
        runId,
        spec.name,
        JSON.stringify(result),
      ]);
    }),
  );
  timings.swapMs = Date.now() - t;
  t = Date.now();
  await beating(opts, 'analyze', () => pool.query(`ANALYZE ${stagingTable(spec)}`));
  timings.analyzeMs = Date.now() - t;
  return { status: 'published', result, timings };
}
