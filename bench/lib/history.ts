import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Timestamp = { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined;

export function tsMs(t: Timestamp): number {
  if (!t) return NaN;
  const s = t.seconds;
  const seconds = typeof s === 'number' ? s : s ? s.toNumber() : 0;
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

function eventId(e: HistoryEvent): number {
  const id = e.eventId as unknown;
  return typeof id === 'number' ? id : id && typeof (id as { toNumber?: () => number }).toNumber === 'function' ? (id as { toNumber(): number }).toNumber() : Number(id);
}

function asNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

function decodePayload(p: temporal.api.common.v1.IPayload | undefined | null): unknown {
  if (!p?.data) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(p.data));
  } catch {
    return undefined;
  }
}

export interface ActivityTiming {
  step: string;
  activity: string;
  scheduledAt: number;
  startedAt: number;
  closedAt: number;
  /** scheduled -> started: time in the task queue. */
  queueMs: number;
  /** started -> completed: execution as the server saw it. */
  execMs: number;
  /** The activity's own durationMs from its result, when it reports one. */
  reportedMs?: number;
  attempt: number;
  status: 'completed' | 'failed' | 'timed out' | 'cancelled';
}

export interface RunTimings {
  runMs: number;
  /** Time covered by at least one running activity (union of started -> closed intervals). */
  activityUnionMs: number;
  /** runMs - activityUnionMs: time no activity was running (workflow tasks, scheduling, queueing). */
  overheadMs: number;
  overheadPct: number;
  workflowTasks: number;
  /** Sum of workflow task scheduled -> completed times. */
  workflowTaskMs: number;
  /** Sum of activity scheduled -> started times. */
  activityQueueMs: number;
  /** Sum of activity execution times. */
  activityExecMs: number;
  activities: ActivityTiming[];
  /** Gaps without any running activity, in run order, with what came before and after. */
  gaps: { afterMs: number; ms: number; before: string; after: string }[];
}

function stepName(activity: string, input: unknown, summary: unknown): string {
  if (typeof summary === 'string' && summary !== '') return summary;
  const i = (input ?? {}) as Record<string, unknown>;
  if (activity === 'loadSource' && typeof i.source === 'string') return `load ${i.source}`;
  if (activity === 'planLoad' && typeof i.source === 'string') return `plan ${i.source}`;
  if (activity === 'loadChunk' && typeof i.source === 'string') return `load ${i.source} chunk ${Number(i.chunk) + 1}`;
  if (activity === 'publishLoad' && typeof i.source === 'string') return `publish ${i.source}`;
  if (activity === 'buildModel' && typeof i.model === 'string') return `build ${i.model}`;
  if (activity === 'checkQuality' && typeof i.layer === 'string') return `check ${i.layer}`;
  return activity;
}

/** Per-activity timings and the orchestration overhead of one completed workflow run, from its history. */
export function analyseHistory(events: HistoryEvent[]): RunTimings {
  const byId = new Map<number, HistoryEvent>();
  for (const e of events) byId.set(eventId(e), e);
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const closed = [...events].reverse().find(
    (e) => e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes || e.workflowExecutionTimedOutEventAttributes,
  );
  const runStart = tsMs(started?.eventTime);
  const runEnd = tsMs(closed?.eventTime);

  const activities: ActivityTiming[] = [];
  let workflowTasks = 0;
  let workflowTaskMs = 0;
  for (const e of events) {
    const wtc = e.workflowTaskCompletedEventAttributes;
    if (wtc) {
      workflowTasks++;
      const sched = byId.get(asNumber(wtc.scheduledEventId));
      workflowTaskMs += tsMs(e.eventTime) - tsMs(sched?.eventTime);
    }
    const done =
      e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    if (!done) continue;
    const sched = byId.get(asNumber(done.scheduledEventId));
    const start = byId.get(asNumber(done.startedEventId));
    const attrs = sched?.activityTaskScheduledEventAttributes;
    const activity = attrs?.activityType?.name ?? '?';
    const input = decodePayload(attrs?.input?.payloads?.[0]);
    // the workflow may name the step itself (executeWithOptions({ summary }))
    const summary = decodePayload(sched?.userMetadata?.summary);
    const result = e.activityTaskCompletedEventAttributes ? (decodePayload(e.activityTaskCompletedEventAttributes.result?.payloads?.[0]) as { durationMs?: number } | undefined) : undefined;
    const scheduledAt = tsMs(sched?.eventTime);
    const startedAt = tsMs(start?.eventTime);
    const closedAt = tsMs(e.eventTime);
    activities.push({
      step: stepName(activity, input, summary),
      activity,
      scheduledAt: scheduledAt - runStart,
      startedAt: startedAt - runStart,
      closedAt: closedAt - runStart,
      queueMs: startedAt - scheduledAt,
      execMs: closedAt - startedAt,
      reportedMs: typeof result?.durationMs === 'number' ? result.durationMs : undefined,
      attempt: start?.activityTaskStartedEventAttributes?.attempt ?? 1,
      status: e.activityTaskCompletedEventAttributes ? 'completed' : e.activityTaskFailedEventAttributes ? 'failed' : e.activityTaskTimedOutEventAttributes ? 'timed out' : 'cancelled',
    });
  }
  activities.sort((a, b) => a.startedAt - b.startedAt);
  // an activity that runs more than once per run (e.g. a bookkeeping step after each layer) gets #2, #3, ...
  const seen = new Map<string, number>();
  for (const a of activities) {
    const k = (seen.get(a.step) ?? 0) + 1;
    seen.set(a.step, k);
    if (k > 1) a.step = `${a.step} #${k}`;
  }

  // union of the [startedAt, closedAt] intervals, and the gaps between them
  const runMs = runEnd - runStart;
  const gaps: RunTimings['gaps'] = [];
  let union = 0;
  let blockStart = 0;
  let blockEnd = -Infinity;
  let lastStep = 'run start';
  for (const a of activities) {
    if (a.startedAt > blockEnd) {
      const prevEnd = blockEnd === -Infinity ? 0 : blockEnd;
      if (blockEnd !== -Infinity) union += blockEnd - blockStart;
      if (a.startedAt > prevEnd) gaps.push({ afterMs: prevEnd, ms: a.startedAt - prevEnd, before: lastStep, after: a.step });
      blockStart = a.startedAt;
      blockEnd = a.closedAt;
    } else {
      blockEnd = Math.max(blockEnd, a.closedAt);
    }
    if (a.closedAt >= blockEnd) lastStep = a.step;
  }
  if (blockEnd !== -Infinity) {
    union += blockEnd - blockStart;
    if (runMs > blockEnd) gaps.push({ afterMs: blockEnd, ms: runMs - blockEnd, before: lastStep, after: 'run end' });
  } else {
    gaps.push({ afterMs: 0, ms: runMs, before: 'run start', after: 'run end' });
  }
  const overheadMs = runMs - union;
  return {
    runMs,
    activityUnionMs: union,
    overheadMs,
    overheadPct: (100 * overheadMs) / runMs,
    workflowTasks,
    workflowTaskMs,
    activityQueueMs: activities.reduce((s, a) => s + a.queueMs, 0),
    activityExecMs: activities.reduce((s, a) => s + a.execMs, 0),
    activities,
    gaps,
  };
}
