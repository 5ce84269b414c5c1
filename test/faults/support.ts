/**
 * Shared rig of the fault tests: a real Temporal dev server, a fresh PostgreSQL database, a prebuilt
 * workflow bundle on disk, workers as separate OS processes, and a large generated dataset (cached
 * on disk between test files and runs: the generator is deterministic).
 */
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateDataset } from '../../dataset/generate';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import type { PipelineSummary } from '../../src/contracts';
import { findFreePorts } from '../../src/dev/temporal-server';
import type { DevServer, StartDevServerOptions } from '../../src/dev/temporal-server';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';
import { killAll, sleep, spawnTs, startWorkerProcess, waitUntil } from '../helpers/processes';
import type { ManagedProcess, WorkerEnv } from '../helpers/processes';
import { startTestTemporal } from '../helpers/temporal';

export const DATASET = 'django-apparel';

/** Large enough that loading order_details.csv takes several seconds here. */
export const LARGE_ORDER_LINES = Number(process.env.GUDANG_FAULTS_ORDER_LINES ?? 1_500_000);
const DATASET_SEED = 4242;

// ---------------------------------------------------------------------------------------------
// Datasets

/** A generated dataset with `orderLines` lines, reused across test files and runs (atomic rename on first use). */
export async function largeDataset(orderLines = LARGE_ORDER_LINES): Promise<string> {
  const base = path.join(os.tmpdir(), 'gudang-faults-data');
  const dir = path.join(base, `django-apparel-${orderLines}-seed${DATASET_SEED}`);
  try {
    await access(path.join(dir, '.complete'));
    return dir;
  } catch {
    // not there yet
  }
  await mkdir(base, { recursive: true });
  const tmp = await mkdtemp(path.join(base, 'tmp-'));
  try {
    await generateDataset({ orderLines, out: tmp, seed: DATASET_SEED });
    await writeFile(path.join(tmp, '.complete'), `${orderLines}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** Number of data lines (header excluded) in a CSV file, counted from the bytes. */
export async function csvDataLines(file: string): Promise<number> {
  let newlines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) newlines++;
    if (buf.length > 0) last = buf[buf.length - 1]!;
  }
  const lines = newlines + (last === 0x0a ? 0 : 1);
  return lines - 1;
}

// ---------------------------------------------------------------------------------------------
// The rig

/** Builds the workflow bundle (and its manifest) the way an operator does, so worker processes start fast. */
async function buildWorkflowBundle(out: string): Promise<void> {
  const build = spawnTs('build:workflows', 'src/scripts/build-workflow-bundle.ts', ['--out', out], process.env);
  const { code } = await withTimeout(build.exited, 120_000, 'the workflow bundle to build');
  if (code !== 0) throw new Error(`npm run build:workflows failed (exit ${code}):\n${build.output()}`);
}

export interface FaultRig {
  /** The current Temporal server (replaced by restartTemporal). */
  server: DevServer;
  db: TestDatabase;
  client: Client;
  taskQueue: string;
  workerEnv: WorkerEnv;
  /** Client-side configuration pointing at this rig (for startPipeline). */
  config: Config;
  /** Starts a worker process on this rig and waits until it is ready. */
  startWorker(name?: string): Promise<ManagedProcess>;
  /**
   * Only with `persistent`: kills the Temporal server (SIGKILL, or SIGTERM when graceful), keeps it down for
   * downMs, then starts it again on the same port with the same SQLite file. Returns when it serves again.
   */
  restartTemporal(opts: { downMs: number; graceful?: boolean }): Promise<{ killedAt: number; startedAt: number; readyAt: number }>;
  /** Kills every process this test file started, closes connections, drops the database, stops the server. */
  close(): Promise<void>;
}

export interface RigOptions {
  /** Temporal keeps its state in a SQLite file on a fixed port, so it can be restarted (restartTemporal). */
  persistent?: boolean;
}

export async function startRig(opts: RigOptions = {}): Promise<FaultRig> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'gudang-faults-'));
  const temporalOptions: StartDevServerOptions = { headless: true };
  if (opts.persistent) {
    temporalOptions.dbFile = path.join(workDir, 'temporal.sqlite');
    [temporalOptions.port] = await findFreePorts(1);
  }
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  const [server, db] = await Promise.all([startTestTemporal(temporalOptions), createTestDatabase('gudang_faults'), buildWorkflowBundle(bundlePath)]);
  await migrate(db.pool);
  const taskQueue = `gudang-faults-${randomUUID().slice(0, 8)}`;
  const workerEnv: WorkerEnv = {
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    GUDANG_WORKFLOW_BUNDLE: bundlePath,
  };
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  let closing: Promise<void> | undefined;
  const rig: FaultRig = {
    server,
    db,
    client,
    taskQueue,
    workerEnv,
    config: loadConfig({ ...process.env, ...workerEnv }),
    startWorker: (name) => startWorkerProcess(workerEnv, { name }),
    async restartTemporal({ downMs, graceful = false }) {
      if (!opts.persistent) throw new Error('restartTemporal needs a rig started with { persistent: true }');
      const old = rig.server;
      const killedAt = Date.now();
      if (graceful || old.pid === undefined) await old.stop();
      else {
        process.kill(old.pid, 'SIGKILL');
        await old.stop(); // returns once the process is gone
      }
      await sleep(Math.max(0, downMs - (Date.now() - killedAt)));
      const startedAt = Date.now();
      rig.server = await startTestTemporal(temporalOptions);
      return { killedAt, startedAt, readyAt: Date.now() };
    },
    close: () =>
      (closing ??= (async () => {
        await killAll();
        await connection.close().catch(() => undefined);
        await db.drop().catch(() => undefined);
        await rig.server.stop();
        await rm(workDir, { recursive: true, force: true });
      })()),
  };
  return rig;
}

// ---------------------------------------------------------------------------------------------
// Looking inside a run (history and describe())

// Proto types reached through the client's own signatures (@temporalio/proto is not a direct dependency).
type Description = Awaited<ReturnType<WorkflowHandle['describe']>>;
export type PendingActivity = NonNullable<Description['raw']['pendingActivities']>[number];
type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];
type Payloads = NonNullable<NonNullable<HistoryEvent['activityTaskScheduledEventAttributes']>['input']>;

/** temporal.api.enums.v1.PendingActivityState */
export const PENDING_STATE = { SCHEDULED: 1, STARTED: 2, CANCEL_REQUESTED: 3 } as const;
/** temporal.api.enums.v1.TimeoutType */
export const TIMEOUT_TYPE = { START_TO_CLOSE: 1, SCHEDULE_TO_START: 2, SCHEDULE_TO_CLOSE: 3, HEARTBEAT: 4 } as const;

/**
 * The activities that stream a file's rows into PostgreSQL: loadChunk (one per byte range of the file, resumable)
 * since the plan/chunks/publish engine; loadSource (the whole file) before it.
 */
export const ROW_LOADING_ACTIVITIES = ['loadChunk', 'loadSource'];

/** Milliseconds since the epoch of a protobuf Timestamp, or a Duration in ms (null when absent). */
export function tsMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  return Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** Decoded payloads (JSON) of a Payloads message. */
export function decodePayloads(payloads: Payloads | null | undefined): unknown[] {
  return (payloads?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
}

export async function historyEvents(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

/** An activity the workflow scheduled, as its ActivityTaskScheduled event tells. */
export interface ScheduledActivity {
  activityId: string;
  type: string;
  scheduledEventId: string;
  /** The WorkflowTaskCompleted event whose commands scheduled it: activities with the same one started together. */
  workflowTaskEventId: string;
  /** `source`, `chunk`, `layer` and `model` of its first argument, when it has them. */
  source?: string;
  chunk?: number;
  layer?: string;
  model?: string;
  heartbeatTimeoutMs: number | null;
}

export function scheduledActivities(events: HistoryEvent[]): ScheduledActivity[] {
  const out: ScheduledActivity[] = [];
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (!a?.activityId) continue;
    const [arg] = decodePayloads(a.input);
    const input = arg && typeof arg === 'object' ? (arg as { source?: unknown; chunk?: unknown; layer?: unknown; model?: unknown }) : {};
    out.push({
      activityId: a.activityId,
      type: a.activityType?.name ?? '',
      scheduledEventId: String(e.eventId),
      workflowTaskEventId: String(a.workflowTaskCompletedEventId),
      source: typeof input.source === 'string' ? input.source : undefined,
      chunk: typeof input.chunk === 'number' ? input.chunk : undefined,
      layer: typeof input.layer === 'string' ? input.layer : undefined,
      model: typeof input.model === 'string' ? input.model : undefined,
      heartbeatTimeoutMs: tsMs(a.heartbeatTimeout),
    });
  }
  return out;
}

/** The activities that load rows of `source` (see ROW_LOADING_ACTIVITIES). */
export function rowLoadingActivities(events: HistoryEvent[], source: string): ScheduledActivity[] {
  return scheduledActivities(events).filter((a) => a.source === source && ROW_LOADING_ACTIVITIES.includes(a.type));
}

/** ActivityTaskStarted attempts recorded in the history for the given activities (written when each one closes). */
export function startedAttempts(events: HistoryEvent[], activities: ScheduledActivity[]): number[] {
  const scheduled = new Set(activities.map((a) => a.scheduledEventId));
  return events
    .filter((e) => e.activityTaskStartedEventAttributes && scheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)))
    .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
}

/** Decoded results of the given activities that completed. */
export function completedResults(events: HistoryEvent[], activities: ScheduledActivity[]): unknown[] {
  const scheduled = new Set(activities.map((a) => a.scheduledEventId));
  return events
    .filter((e) => e.activityTaskCompletedEventAttributes && scheduled.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId)))
    .map((e) => decodePayloads(e.activityTaskCompletedEventAttributes!.result)[0]);
}

/** One look, through describe(), at a pending activity that loads rows of the watched source. */
export interface LoadObservation {
  /** Client clock, ms since the epoch. */
  at: number;
  activityId: string;
  type: string;
  chunk?: number;
  attempt: number;
  state: number;
  lastStartedAt: number | null;
  lastHeartbeatAt: number | null;
  /** Decoded heartbeat details as the server holds them (the last heartbeat it received, of whatever attempt). */
  details: unknown[];
  /** Why the previous attempt failed, as the server recorded it. */
  lastFailure?: { message: string; timeoutType?: number };
}

/**
 * Polls describe() every intervalMs and keeps every change (attempt, state, start time, heartbeat time) of the
 * pending activities that load rows of `source`, until stop() is called. Survives the server being away.
 */
export function watchLoad(handle: WorkflowHandle, source: string, intervalMs = 100) {
  const observations: LoadObservation[] = [];
  const known = new Map<string, ScheduledActivity | null>();
  const stopping = new AbortController();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        if (pending.some((p) => !known.has(p.activityId ?? ''))) {
          const all = scheduledActivities(await historyEvents(handle));
          for (const a of all) known.set(a.activityId, a.source === source && ROW_LOADING_ACTIVITIES.includes(a.type) ? a : null);
        }
        for (const p of pending) {
          const act = known.get(p.activityId ?? '');
          if (!act) continue;
          const o: LoadObservation = {
            at: Date.now(),
            activityId: act.activityId,
            type: act.type,
            chunk: act.chunk,
            attempt: p.attempt ?? 1,
            state: Number(p.state ?? 0),
            lastStartedAt: tsMs(p.lastStartedTime),
            lastHeartbeatAt: tsMs(p.lastHeartbeatTime),
            details: decodePayloads(p.heartbeatDetails),
            lastFailure: p.lastFailure
              ? { message: p.lastFailure.message ?? '', timeoutType: p.lastFailure.timeoutFailureInfo?.timeoutType ?? undefined }
              : undefined,
          };
          const prev = observations.filter((x) => x.activityId === o.activityId).at(-1);
          if (
            !prev ||
            prev.attempt !== o.attempt ||
            prev.state !== o.state ||
            prev.lastStartedAt !== o.lastStartedAt ||
            prev.lastHeartbeatAt !== o.lastHeartbeatAt
          ) {
            observations.push(o);
          }
        }
      } catch {
        // the server may be briefly unreachable (that is what some tests do to it): keep polling
      }
      await sleep(intervalMs);
    }
  })();
  return {
    observations,
    /** The first observation matching pred, waiting for it up to timeoutMs (or until stop() or signal). */
    async waitFor(what: string, pred: (o: LoadObservation) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<LoadObservation> {
      const signals = signal ? AbortSignal.any([signal, stopping.signal]) : stopping.signal;
      return waitUntil(what, () => observations.find(pred), timeoutMs, 20, signals);
    },
    async stop(): Promise<void> {
      stopped = true;
      stopping.abort('the watch stopped');
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Looking inside PostgreSQL

export interface CopyProgress {
  pid: number;
  relation: string;
  tuples: number;
  bytes: number;
  applicationName: string;
}

/**
 * COPY commands running now in the rig's database whose statement names `relationLike`. (The statement text,
 * not the relation: a table created in the loading transaction has no name other sessions can see yet.)
 */
export async function copyProgress(db: TestDatabase, relationLike: string): Promise<CopyProgress[]> {
  const { rows } = await db.pool.query<{ pid: number; relation: string; tuples: string; bytes: string; application_name: string }>(
    `SELECT p.pid, substring(a.query from '(?i)copy\\s+(\\S+)') AS relation, p.tuples_processed::text AS tuples,
            p.bytes_processed::text AS bytes, a.application_name
       FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
      WHERE p.datname = current_database() AND a.query ILIKE 'copy%' || $1 || '%'`,
    [relationLike],
  );
  return rows.map((r) => ({ pid: r.pid, relation: r.relation, tuples: Number(r.tuples), bytes: Number(r.bytes), applicationName: r.application_name }));
}

/** A load's committed checkpoint (one chunk's, or summed over its chunks) from ops.load_chunks; null without that table or plan. */
export interface Checkpoint {
  rowsRead: number;
  byteDone: number;
  attempts: number;
  batches: number;
  chunks: number;
}

export async function committedCheckpoint(db: TestDatabase, runId: string, source: string, chunk?: number): Promise<Checkpoint | null> {
  const { rows } = await db.pool.query<{ exists: boolean }>(`SELECT to_regclass('ops.load_chunks') IS NOT NULL AS exists`);
  if (!rows[0]?.exists) return null;
  const res = await db.pool.query<{ rows_read: string; byte_done: string; attempts: string; batches: string; chunks: string }>(
    `SELECT sum(rows_read)::text AS rows_read, sum(byte_done - byte_start)::text AS byte_done, max(attempts)::text AS attempts,
            sum(batches)::text AS batches, count(*)::text AS chunks
       FROM ops.load_chunks WHERE run_id = $1 AND source = $2 AND ($3::int IS NULL OR chunk = $3::int)`,
    [runId, source, chunk ?? null],
  );
  const r = res.rows[0];
  if (!r || r.chunks === '0') return null;
  return { rowsRead: Number(r.rows_read), byteDone: Number(r.byte_done), attempts: Number(r.attempts), batches: Number(r.batches), chunks: Number(r.chunks) };
}

export interface LoadProgress {
  /** Rows committed (checkpoints in ops.load_chunks; 0 for an engine without them). */
  committed: number;
  /** Rows processed by the COPY commands running now (the uncommitted batch). */
  inFlight: number;
  copies: CopyProgress[];
}

export async function loadProgress(db: TestDatabase, runId: string, source: string): Promise<LoadProgress> {
  const [cp, copies] = await Promise.all([committedCheckpoint(db, runId, source), copyProgress(db, source)]);
  return { committed: cp?.rowsRead ?? 0, inFlight: copies.reduce((n, c) => n + c.tuples, 0), copies };
}

export interface MidLoadOptions {
  /** Rows done (committed + in flight) before the load counts as "in the middle". */
  minRows: number;
  /** Rows in the file: a load that has committed them all was missed, and that is said at once. */
  totalRows: number;
  /** Also wait for a committed batch (when the engine keeps checkpoints in ops.load_chunks). Default true. */
  requireCommitted?: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Waits until the load of `source` is under way: past `minRows` (committed + in flight), with a COPY running now and,
 * when the engine keeps checkpoints and requireCommitted is not false, at least one batch committed.
 */
export async function waitForMidLoad(db: TestDatabase, runId: string, source: string, o: MidLoadOptions): Promise<LoadProgress> {
  const hasCheckpoints = (await db.pool.query<{ exists: boolean }>(`SELECT to_regclass('ops.load_chunks') IS NOT NULL AS exists`)).rows[0]!.exists;
  const needCommitted = hasCheckpoints && o.requireCommitted !== false;
  return waitUntil(
    `the load of ${source} to be under way past ${o.minRows} rows${needCommitted ? ' with a committed batch' : ''}`,
    async () => {
      const p = await loadProgress(db, runId, source);
      if (p.committed >= o.totalRows) {
        throw new MissedError(
          `the load of ${source} finished (${p.committed} rows committed) before it was caught in the middle: ` +
            `raise GUDANG_FAULTS_ORDER_LINES so that it takes longer`,
        );
      }
      return p.copies.length > 0 && p.committed + p.inFlight >= o.minRows && (!needCommitted || p.committed > 0) ? p : undefined;
    },
    o.timeoutMs,
    25,
    o.signal,
    (err) => err instanceof MissedError,
  );
}

class MissedError extends Error {}

/** Row count and distinct-key count of a table. */
export async function countRows(db: TestDatabase, table: string, key: string): Promise<{ rows: number; distinct: number }> {
  const { rows } = await db.pool.query<{ rows: string; distinct: string }>(
    `SELECT count(*)::text AS rows, count(DISTINCT ${key})::text AS distinct FROM ${table}`,
  );
  return { rows: Number(rows[0]!.rows), distinct: Number(rows[0]!.distinct) };
}

export { waitUntil };

/** Resolves or rejects like promise, or rejects after timeoutMs naming what was awaited. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The outcome every fault must still reach

export interface ExactOutcome {
  lines: number;
  staging: { rows: number; distinct: number };
  fact: { rows: number; distinct: number };
  ledger: { source: string; rows_read: number; rows_loaded: number }[];
}

/**
 * Asserts the run loaded order_details exactly: rows read = rows loaded = lines in the file (summary and
 * ledger), staging holds each order_detail_id once and nothing else, the fact holds what staging holds,
 * and the ledger has exactly one row per source for this run.
 */
export async function assertExactOutcome(
  db: TestDatabase,
  summary: PipelineSummary,
  lines: number,
): Promise<ExactOutcome> {
  const load = summary.loads.find((l) => l.source === 'order_details');
  assert.ok(load, 'the summary has a load of order_details');
  assert.equal(load.rowsRead, lines, 'summary: rows read = lines in order_details.csv');
  assert.equal(load.rowsLoaded, lines, 'summary: rows loaded = lines in order_details.csv');
  assert.equal(load.rowsRejected, 0);
  const staging = await countRows(db, 'staging.order_details', 'order_detail_id');
  assert.equal(staging.rows, lines, 'staging.order_details has one row per line of the file');
  assert.equal(staging.distinct, lines, 'no order_detail_id appears twice in staging');
  const fact = await countRows(db, 'warehouse.fct_transactions', 'order_detail_id');
  assert.equal(fact.rows, staging.rows, 'the fact has one row per staging row');
  assert.equal(fact.distinct, fact.rows, 'no order line appears twice in the fact');
  const { rows: ledger } = await db.pool.query<{ source: string; rows_read: number; rows_loaded: number }>(
    `SELECT source, rows_read::int, rows_loaded::int FROM ops.loads WHERE run_id = $1 ORDER BY source`,
    [summary.runId],
  );
  assert.equal(ledger.length, summary.loads.length, 'one ledger row per source for this run');
  const od = ledger.find((r) => r.source === 'order_details');
  assert.deepEqual(od, { source: 'order_details', rows_read: lines, rows_loaded: lines }, 'ledger: exact counts for order_details');
  return { lines, staging, fact, ledger };
}

/**
 * Runs wait(signal), but rejects at once if the run ends first (a run that fails early would otherwise only show
 * up as a timeout of whatever the test was waiting for). Polls describe(): no long poll is left behind.
 */
export async function whileRunning<T>(handle: WorkflowHandle, what: string, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const ended = (async (): Promise<never> => {
    while (!controller.signal.aborted) {
      const d = await handle.describe().catch(() => undefined);
      if (d && d.status.name !== 'RUNNING') {
        const failure = d.status.name === 'FAILED' ? await handle.result().then(() => '', (err: unknown) => `: ${(err as Error).message} (${String((err as { cause?: { message?: string } }).cause?.message ?? '')})`) : '';
        throw new Error(`the run ended (${d.status.name}) before ${what}${failure}`);
      }
      await sleep(250);
    }
    throw new Error('no longer needed');
  })();
  ended.catch(() => undefined); // loses the race in the normal case
  try {
    return await Promise.race([wait(controller.signal), ended]);
  } finally {
    controller.abort('no longer needed');
  }
}

/** On failure: prints what the test saw (observations of the load, output of the processes) before rethrowing. */
export async function withDiagnostics<T>(
  t: { diagnostic(message: string): void },
  sources: { observations?: () => LoadObservation[]; processes?: () => ManagedProcess[] },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const obs = sources.observations?.() ?? [];
    const t0 = obs[0]?.at ?? 0;
    for (const o of obs) {
      t.diagnostic(
        `+${o.at - t0} ms: ${o.type} ${o.activityId}${o.chunk === undefined ? '' : ` chunk ${o.chunk}`} attempt ${o.attempt} state ${o.state} started ${o.lastStartedAt === null ? '-' : o.lastStartedAt - t0} ` +
          `heartbeat ${o.lastHeartbeatAt === null ? '-' : o.lastHeartbeatAt - t0} details ${JSON.stringify(o.details)} ` +
          `lastFailure ${JSON.stringify(o.lastFailure ?? null)}`,
      );
    }
    for (const p of sources.processes?.() ?? []) {
      t.diagnostic(`${p.name} (pid ${p.pid}, ${p.running ? 'running' : 'exited'}):\n${p.output()}`);
    }
    throw err;
  }
}

/**
 * Runs wait(signal), but rejects at once if the process exits first, with its output; the wait is then aborted.
 * `what` may be a function, called when the message is made (to say, for example, how long after an event).
 */
export async function unlessExits<T>(proc: ManagedProcess, what: string | (() => string), wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const died = proc.exited.then(({ code, signal }): never => {
    const doing = typeof what === 'function' ? what() : what;
    throw new Error(`${proc.name} (pid ${proc.pid}) exited (code ${code}, signal ${signal}) while ${doing}. Its output:\n${proc.output()}`);
  });
  died.catch(() => undefined);
  try {
    return await Promise.race([wait(controller.signal), died]);
  } finally {
    controller.abort('no longer needed');
  }
}

/**
 * The run's result, waiting up to timeoutMs (or until signal) by polling describe(): unlike a bare result(), nothing
 * is left waiting on the server when the test gives up.
 */
export async function runResult(handle: WorkflowHandle, timeoutMs: number, signal?: AbortSignal): Promise<PipelineSummary> {
  await waitUntil(
    `the run ${handle.workflowId} to complete`,
    async () => (await handle.describe()).status.name !== 'RUNNING',
    timeoutMs,
    250,
    signal,
  );
  return (await handle.result()) as PipelineSummary;
}
