import { ScheduleAlreadyRunning, ScheduleNotFoundError } from '@temporalio/client';
import type {
  CalendarSpec,
  Client,
  ScheduleDescription,
  ScheduleHandle,
  ScheduleOverlapPolicy,
  ScheduleSpec,
  ScheduleSummary,
  ScheduleUpdateOptions,
} from '@temporalio/client';
import { normalizeSourceDir, sourceKind } from './sources/remote/uri';
import { DEFAULT_SCHEDULE_TIMEZONE, SA, scheduleIdFor } from './contracts';
import type { BackupTarget, PipelineInput } from './contracts';
import type { Config } from './config';
import { sourceDbLocator } from './sources/database';

// The monthly load as a Temporal Schedule (not a timer loop, not crontab): create, describe, list, pause,
// unpause, trigger, update, delete. Each scheduled run starts pipelineWorkflow with no period; the workflow
// loads the month before its scheduled time, in the schedule's time zone (passed in the action's input).

export const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** The original crontab `0 1 1 * *`: monthly on the 1st at 01:00. */
export const DEFAULT_CALENDAR: CalendarSpec = { dayOfMonth: 1, hour: 1, minute: 0, comment: 'monthly on the 1st at 01:00' };

export const SCHEDULE_DEFAULTS = {
  timezone: DEFAULT_SCHEDULE_TIMEZONE,
  overlap: 'SKIP' as OverlapPolicy,
  /** A run missed while the server was down is still started if the server is back within this window. */
  catchupWindow: '7 days',
  pauseOnFailure: false,
};

export interface ScheduleSettings {
  dataset: string;
  /** Directory holding the source files, as seen by the worker. */
  sourceDir: string;
  /** Source database locator (URL without password) for the database-capable sources. */
  sourceDb?: string;
  /** Default gudang-<dataset>-monthly. */
  scheduleId?: string;
  /** A cron expression (5 fields); replaces the calendar. */
  cron?: string;
  /** A calendar spec; default DEFAULT_CALENDAR. */
  calendar?: CalendarSpec;
  /** IANA time zone of the cron/calendar, and of the month a run loads. */
  timezone?: string;
  overlap?: OverlapPolicy;
  /** Temporal duration string, e.g. "7 days", "1 hour". */
  catchupWindow?: string;
  pauseOnFailure?: boolean;
  /** Created paused, with this note. */
  paused?: boolean;
  note?: string;
  /** Each run ends with a backup of the dataset's warehouse to this folder or s3:// URI, keeping the newest `keep`. */
  backup?: BackupTarget;
}

export class ScheduleSettingsError extends Error {}

/** Throws ScheduleSettingsError unless `tz` is an IANA time zone this runtime knows. */
export function assertTimezone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ScheduleSettingsError(`unknown time zone "${tz}" (use an IANA name such as Asia/Jakarta or UTC)`);
  }
  return tz;
}

export function assertOverlap(policy: string): OverlapPolicy {
  const p = policy.toUpperCase().replace(/-/g, '_');
  if (!(OVERLAP_POLICIES as readonly string[]).includes(p)) {
    throw new ScheduleSettingsError(`unknown overlap policy "${policy}" (one of ${OVERLAP_POLICIES.join(', ')})`);
  }
  return p as OverlapPolicy;
}

export function assertCron(expr: string): string {
  const fields = expr.trim().split(/\s+/);
  if (expr.trim().startsWith('@')) return expr.trim();
  if (fields.length < 5 || fields.length > 7) throw new ScheduleSettingsError(`cron expression "${expr}" should have 5 fields (minute hour day-of-month month day-of-week)`);
  return fields.join(' ');
}

const CALENDAR_FIELDS = ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'year', 'dayOfWeek'] as const;
type CalendarField = (typeof CALENDAR_FIELDS)[number];
const MONTHS = ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER'];
const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

/**
 * Parses `--calendar "dayOfMonth=1 hour=1 minute=0"`: space-separated field=value pairs, each value `*`, `N`,
 * `N-M`, `N-M/STEP` or a comma list of those; months and week days also by name (MARCH, MONDAY). Fields not
 * given default as Temporal defines them (second/minute/hour 0, the others every value).
 */
export function parseCalendar(text: string): CalendarSpec {
  const spec: Record<string, unknown> = {};
  const pairs = text.trim().split(/\s+/).filter(Boolean);
  if (pairs.length === 0) throw new ScheduleSettingsError('--calendar needs at least one field=value, e.g. "dayOfMonth=1 hour=1"');
  for (const pair of pairs) {
    const [rawKey, value] = pair.split('=', 2);
    const key = CALENDAR_FIELDS.find((f) => f.toLowerCase() === rawKey?.toLowerCase());
    if (!key || value === undefined || value === '') {
      throw new ScheduleSettingsError(`bad calendar field "${pair}": expected field=value with field one of ${CALENDAR_FIELDS.join(', ')}`);
    }
    spec[key] = value === '*' ? '*' : value.split(',').map((part) => parseRange(key, part));
  }
  return { ...(spec as CalendarSpec), comment: text.trim() };
}

function parseRange(field: CalendarField, part: string): unknown {
  const m = /^([A-Za-z]+|\d+)(?:-([A-Za-z]+|\d+))?(?:\/(\d+))?$/.exec(part);
  if (!m) throw new ScheduleSettingsError(`bad calendar value "${part}" for ${field}`);
  const unit = (v: string) => {
    if (/^\d+$/.test(v)) {
      const n = Number(v);
      if (field === 'month') return MONTHS[n - 1] ?? bad();
      if (field === 'dayOfWeek') return DAYS[n % 7] ?? bad();
      return n;
    }
    const name = v.toUpperCase();
    const names = field === 'month' ? MONTHS : field === 'dayOfWeek' ? DAYS : [];
    const found = names.find((n) => n === name || n.slice(0, 3) === name);
    return found ?? bad();
  };
  const bad = (): never => {
    throw new ScheduleSettingsError(`bad calendar value "${part}" for ${field}`);
  };
  const start = unit(m[1]!);
  if (m[2] === undefined && m[3] === undefined) return start;
  return { start, end: m[2] === undefined ? start : unit(m[2]), step: m[3] === undefined ? 1 : Number(m[3]) };
}

/** The schedule's spec: a cron expression or a calendar, in a time zone. */
function specOf(settings: ScheduleSettings, timezone: string): ScheduleSpec {
  if (settings.cron) return { cronExpressions: [assertCron(settings.cron)], timezone };
  return { calendars: [settings.calendar ?? DEFAULT_CALENDAR], timezone };
}

/**
 * A backup target as a run's input carries it: a folder (made absolute) or an s3:// URI. A URI with credentials in it
 * is refused (they would be stored in the schedule and in every run's history), as is any other kind of location.
 */
export function checkBackupTarget(target: BackupTarget): BackupTarget {
  const kind = sourceKind(target.to);
  if (kind !== 'local' && kind !== 's3') throw new ScheduleSettingsError(`--backup-to ${target.to}: backups go to a folder or an s3://bucket/prefix/ URI`);
  let to: string;
  try {
    to = normalizeSourceDir(target.to);
  } catch (err) {
    throw new ScheduleSettingsError(`--backup-to: ${(err as Error).message}`);
  }
  return target.keep !== undefined ? { to, keep: target.keep } : { to };
}

function actionOf(config: Config, scheduleId: string, dataset: string, sourceDir: string, timezone: string, sourceDb?: string, backup?: BackupTarget) {
  const input: PipelineInput = {
    dataset,
    sourceDir,
    trigger: 'schedule',
    timezone,
    ...(sourceDb ? { sourceDb: sourceDbLocator(sourceDb) } : {}),
    ...(backup ? { backup: checkBackupTarget(backup) } : {}),
  };
  return {
    type: 'startWorkflow' as const,
    workflowType: 'pipelineWorkflow',
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    // Each run's workflow id is this plus the scheduled time: gudang-<dataset>-monthly-2026-03-31T18:00:00Z.
    workflowId: scheduleId,
    args: [input],
    memo: { dataset, sourceDir, trigger: 'schedule', scheduleId },
    typedSearchAttributes: [
      { key: SA.dataset, value: dataset },
      { key: SA.trigger, value: 'schedule' },
    ],
    staticSummary: `${dataset}: scheduled load of the previous month (${scheduleId})`,
  };
}

/** Creates the schedule. Throws ScheduleAlreadyRunning when the id is taken. */
export async function createSchedule(client: Client, config: Config, settings: ScheduleSettings): Promise<ScheduleHandle> {
  const scheduleId = settings.scheduleId ?? scheduleIdFor(settings.dataset);
  const timezone = assertTimezone(settings.timezone ?? SCHEDULE_DEFAULTS.timezone);
  const sourceDir = normalizeSourceDir(settings.sourceDir);
  return client.schedule.create({
    scheduleId,
    spec: specOf(settings, timezone),
    action: actionOf(config, scheduleId, settings.dataset, sourceDir, timezone, settings.sourceDb, settings.backup),
    policies: {
      overlap: settings.overlap ?? SCHEDULE_DEFAULTS.overlap,
      catchupWindow: settings.catchupWindow ?? SCHEDULE_DEFAULTS.catchupWindow,
      pauseOnFailure: settings.pauseOnFailure ?? SCHEDULE_DEFAULTS.pauseOnFailure,
    },
    memo: { dataset: settings.dataset, sourceDir },
    typedSearchAttributes: [
      { key: SA.dataset, value: settings.dataset },
      { key: SA.trigger, value: 'schedule' },
    ],
    state: { paused: settings.paused ?? false, note: settings.note ?? 'created by gudang schedule create' },
  });
}

/** The pipeline input the schedule starts its runs with. */
export function scheduleInput(description: ScheduleDescription): PipelineInput {
  const input = description.action.args?.[0] as PipelineInput | undefined;
  if (!input?.dataset) throw new Error(`schedule ${description.scheduleId} does not start a gudang pipeline run`);
  return input;
}

/** The time zone of a schedule: the spec's (runs take their period in it). */
export function scheduleTimezone(description: ScheduleDescription): string {
  return description.spec.timezone ?? scheduleInput(description).timezone ?? 'UTC';
}

/** What `schedule update` can change: the settings a schedule is created with, but its dataset and id. */
export type ScheduleChanges = Partial<Pick<ScheduleSettings, 'sourceDir' | 'cron' | 'calendar' | 'timezone' | 'overlap' | 'catchupWindow' | 'pauseOnFailure' | 'note'>>;

/** Changes some settings of an existing schedule, keeping the rest; the runs' input follows the time zone and source. */
export async function updateSchedule(client: Client, scheduleId: string, changes: ScheduleChanges): Promise<ScheduleDescription> {
  if (changes.timezone) assertTimezone(changes.timezone);
  if (changes.cron) assertCron(changes.cron);
  const handle = client.schedule.getHandle(scheduleId);
  await handle.update((prev): ScheduleUpdateOptions => {
    const input = scheduleInput(prev);
    const timezone = changes.timezone ?? scheduleTimezone(prev);
    const sourceDir = changes.sourceDir ? normalizeSourceDir(changes.sourceDir) : input.sourceDir;
    let spec: ScheduleSpec = { ...(prev.spec as ScheduleSpec), timezone };
    if (changes.cron) spec = { cronExpressions: [changes.cron], timezone };
    else if (changes.calendar) spec = { calendars: [changes.calendar], timezone };
    return {
      spec,
      action: {
        ...prev.action,
        args: [{ ...input, sourceDir, timezone } satisfies PipelineInput],
        memo: { ...(prev.action.memo ?? {}), sourceDir },
      },
      policies: {
        overlap: changes.overlap ?? prev.policies.overlap,
        catchupWindow: changes.catchupWindow ?? prev.policies.catchupWindow,
        pauseOnFailure: changes.pauseOnFailure ?? prev.policies.pauseOnFailure,
      },
      state: { ...prev.state, note: changes.note ?? prev.state.note },
      typedSearchAttributes: prev.typedSearchAttributes,
    };
  });
  return handle.describe();
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = [];
  for await (const s of client.schedule.list()) out.push(s);
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export async function pauseSchedule(client: Client, scheduleId: string, note: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function unpauseSchedule(client: Client, scheduleId: string, note: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}

export async function deleteSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).delete();
}

export type TriggerOutcome =
  | { outcome: 'started'; workflowId: string; runId: string }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'unknown' };

/**
 * Triggers one run now, under the schedule's own overlap policy unless another is given (Temporal's default for
 * a trigger is ALLOW_ALL, which would start a second run next to a running one). Then watches the schedule for
 * up to `waitMs` to report whether the trigger started a run or was skipped because one is running.
 */
export async function triggerSchedule(client: Client, scheduleId: string, overlap?: OverlapPolicy, waitMs = 10_000): Promise<TriggerOutcome> {
  const handle = client.schedule.getHandle(scheduleId);
  const before = await handle.describe();
  const policy = overlap ?? before.policies.overlap ?? 'SKIP';
  const taken = before.info.numActionsTaken;
  const skipped = before.info.numActionsSkippedOverlap;
  await handle.trigger(policy as ScheduleOverlapPolicy);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await handle.describe();
    if (now.info.numActionsTaken > taken) {
      const latest = [...now.info.recentActions].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())[0];
      if (latest) return { outcome: 'started', workflowId: latest.action.workflow.workflowId, runId: latest.action.workflow.firstExecutionRunId };
    }
    if (now.info.numActionsSkippedOverlap > skipped) {
      return { outcome: 'skipped', reason: `a run of this schedule is still in progress (overlap policy ${policy})` };
    }
  }
  return { outcome: 'unknown' };
}

export { ScheduleAlreadyRunning, ScheduleNotFoundError };
