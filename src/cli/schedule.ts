import type { Client, ScheduleDescription } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { startBackfill, webUiLink } from '../client';
import { periodForScheduledTime, periodRange, scheduleIdFor } from '../contracts';
import type { BackupTarget } from '../contracts';
import type { Config } from '../config';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleSettingsError,
  assertCron,
  assertOverlap,
  assertTimezone,
  checkBackupTarget,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  parseCalendar,
  pauseSchedule,
  scheduleInput,
  scheduleTimezone,
  triggerSchedule,
  unpauseSchedule,
  updateSchedule,
} from '../schedules';
import type { ScheduleChanges } from '../schedules';
import { EXIT, ExitError, UsageError, isParseError, checkDataset, checkPeriod, config, connect, defaultSourceDir, formatTime, positiveInt, sourceDbOption } from './common';
import { table } from './format';
import { followBackfill, followRun, formatBackfill, formatOutcome, processOutput } from './progress';
import { formatDescription } from './schedule-format';
import { SCHEDULE_HELP } from './schedule-help';

export { SCHEDULE_HELP };

function help(sub: string): number {
  console.log(SCHEDULE_HELP[sub] ?? SCHEDULE_HELP.main);
  return EXIT.ok;
}

function scheduleUsage(err: unknown): never {
  if (err instanceof ScheduleSettingsError) throw new UsageError(err.message);
  throw err;
}

function checkDurationOption(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    if (msToNumber(value as Parameters<typeof msToNumber>[0]) < 10_000) throw new Error('too short');
  } catch {
    throw new UsageError(`${option} "${value}" is not a duration of at least 10 seconds, e.g. "7 days", "12 hours", "30m"`);
  }
  return value;
}

/** The schedule id: the positional argument, else gudang-<dataset>-monthly. */
function scheduleIdOf(positionals: string[], dataset: string, sub: string): string {
  if (positionals.length > 1) throw new UsageError(`schedule ${sub}: unexpected argument "${positionals[1]}"`);
  return positionals[0] ?? scheduleIdFor(dataset);
}

async function mustDescribe(client: Client, scheduleId: string, cfg: Config): Promise<ScheduleDescription> {
  const d = await describeSchedule(client, scheduleId);
  if (!d) throw new ExitError(EXIT.notFound, `no schedule "${scheduleId}" in namespace ${cfg.TEMPORAL_NAMESPACE} (see: gudang schedule list)`);
  return d;
}

/** Runs fn, turning "schedule not found" into exit 4. */
async function onSchedule<T>(scheduleId: string, cfg: Config, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new ExitError(EXIT.notFound, `no schedule "${scheduleId}" in namespace ${cfg.TEMPORAL_NAMESPACE}`);
    throw err;
  }
}

// ------------------------------------------------------------------------------------------- subcommands

const common = {
  dataset: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const specOptions = {
  cron: { type: 'string' },
  calendar: { type: 'string' },
  timezone: { type: 'string' },
  overlap: { type: 'string' },
  'catchup-window': { type: 'string' },
  note: { type: 'string' },
  source: { type: 'string' },
} as const;

function specChanges(values: { cron?: string; calendar?: string; timezone?: string; overlap?: string; 'catchup-window'?: string }): ScheduleChanges {
  if (values.cron && values.calendar) throw new UsageError('give --cron or --calendar, not both');
  try {
    return {
      cron: values.cron ? assertCron(values.cron) : undefined,
      calendar: values.calendar ? parseCalendar(values.calendar) : undefined,
      timezone: values.timezone ? assertTimezone(values.timezone) : undefined,
      overlap: values.overlap ? assertOverlap(values.overlap) : undefined,
      catchupWindow: checkDurationOption(values['catchup-window'], '--catchup-window'),
    };
  } catch (err) {
    return scheduleUsage(err);
  }
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...common,
      ...specOptions,
      'pause-on-failure': { type: 'boolean', default: false },
      paused: { type: 'boolean', default: false },
      'source-db': { type: 'string' },
      'backup-to': { type: 'string' },
      'backup-keep': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help('create');
  const cfg = config();
  const dataset = checkDataset(values.dataset ?? cfg.GUDANG_DATASET, 'schedule create');
  const scheduleId = scheduleIdOf(positionals, dataset, 'create');
  const changes = specChanges(values);
  if (values['backup-keep'] !== undefined && !values['backup-to']) throw new UsageError('--backup-keep needs --backup-to');
  let backup: BackupTarget | undefined;
  try {
    backup = values['backup-to'] ? checkBackupTarget({ to: values['backup-to'], keep: values['backup-keep'] === undefined ? undefined : positiveInt(values['backup-keep'], '--backup-keep', 1) }) : undefined;
  } catch (err) {
    scheduleUsage(err);
  }
  const client = await connect(cfg);
  try {
    await createSchedule(client, cfg, {
      backup,
      dataset,
      scheduleId,
      sourceDir: values.source ?? defaultSourceDir(dataset),
      sourceDb: sourceDbOption(values['source-db'], cfg, 'schedule create'),
      cron: changes.cron,
      calendar: changes.calendar,
      timezone: changes.timezone,
      overlap: changes.overlap,
      catchupWindow: changes.catchupWindow,
      pauseOnFailure: values['pause-on-failure'],
      paused: values.paused,
      note: values.note,
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new ExitError(EXIT.conflict, `schedule "${scheduleId}" already exists: change it with \`gudang schedule update\`, or delete it first`);
    }
    throw err;
  }
  console.log(`created schedule ${scheduleId}\n`);
  console.log(await formatDescription(client, cfg, await mustDescribe(client, scheduleId, cfg)));
  return EXIT.ok;
}

async function describe(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true, strict: true });
  if (values.help) return help('describe');
  const cfg = config();
  const scheduleId = scheduleIdOf(positionals, values.dataset ?? cfg.GUDANG_DATASET, 'describe');
  const client = await connect(cfg);
  console.log(await formatDescription(client, cfg, await mustDescribe(client, scheduleId, cfg)));
  return EXIT.ok;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true, strict: true });
  if (values.help) return help('list');
  if (positionals.length > 0) throw new UsageError(`schedule list: unexpected argument "${positionals[0]}"`);
  const cfg = config();
  const client = await connect(cfg);
  const schedules = await listSchedules(client);
  if (schedules.length === 0) {
    console.log(`no schedules in namespace ${cfg.TEMPORAL_NAMESPACE} (create one: gudang schedule create)`);
    return EXIT.ok;
  }
  const rows = schedules.map((s) => {
    const tz = s.spec?.timezone ?? 'UTC';
    const next = s.info.nextActionTimes[0];
    const last = [...s.info.recentActions].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())[0];
    return {
      schedule: s.scheduleId,
      dataset: String(s.memo?.dataset ?? ''),
      state: s.state.paused ? 'PAUSED' : 'active',
      'next run': s.state.paused || !next ? '' : `${formatTime(next, tz)} ${tz}`,
      'last run': last?.action.workflow.workflowId ?? '',
      note: s.state.note ?? '',
    };
  });
  console.log(table(rows));
  return EXIT.ok;
}

function defaultNote(verb: string): string {
  return `${verb} by ${os.userInfo().username}@${os.hostname()} via gudang CLI at ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

async function pauseOrUnpause(argv: string[], sub: 'pause' | 'unpause'): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...common, note: { type: 'string' } }, allowPositionals: true, strict: true });
  if (values.help) return help(sub);
  const cfg = config();
  const scheduleId = scheduleIdOf(positionals, values.dataset ?? cfg.GUDANG_DATASET, sub);
  const client = await connect(cfg);
  const note = values.note ?? defaultNote(sub === 'pause' ? 'paused' : 'unpaused');
  await onSchedule(scheduleId, cfg, () => (sub === 'pause' ? pauseSchedule(client, scheduleId, note) : unpauseSchedule(client, scheduleId, note)));
  const d = await mustDescribe(client, scheduleId, cfg);
  console.log(`${sub === 'pause' ? 'paused' : 'unpaused'} schedule ${scheduleId}: state ${d.state.paused ? 'PAUSED' : 'active'}, note "${d.state.note ?? ''}"`);
  if (!d.state.paused && d.info.nextActionTimes[0]) {
    const tz = scheduleTimezone(d);
    const t = d.info.nextActionTimes[0];
    console.log(`next run ${formatTime(t, tz)} ${tz}, loads ${periodForScheduledTime(t, tz)}`);
  }
  return EXIT.ok;
}

async function trigger(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...common, overlap: { type: 'string' }, wait: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help('trigger');
  const cfg = config();
  const scheduleId = scheduleIdOf(positionals, values.dataset ?? cfg.GUDANG_DATASET, 'trigger');
  let overlap;
  try {
    overlap = values.overlap ? assertOverlap(values.overlap) : undefined;
  } catch (err) {
    scheduleUsage(err);
  }
  const client = await connect(cfg);
  const d = await mustDescribe(client, scheduleId, cfg);
  const result = await triggerSchedule(client, scheduleId, overlap);
  const policy = overlap ?? d.policies.overlap;
  if (result.outcome === 'skipped') {
    console.log(`triggered schedule ${scheduleId}: skipped, ${result.reason}`);
    return EXIT.ok;
  }
  if (result.outcome === 'unknown') {
    console.log(`triggered schedule ${scheduleId} (overlap policy ${policy}); no run seen yet: check \`gudang schedule describe ${scheduleId}\``);
    return EXIT.ok;
  }
  console.log(`triggered schedule ${scheduleId}: started ${result.workflowId} (run ${result.runId})`);
  console.log(`web ui: ${webUiLink(cfg, result.workflowId, result.runId)}`);
  if (!values.wait) return EXIT.ok;
  const outcome = await followRun(client.workflow.getHandle(result.workflowId, result.runId), processOutput());
  console.log(formatOutcome(result.workflowId, result.runId, outcome, false));
  if (outcome.status === 'COMPLETED') return EXIT.ok;
  console.error(`run failed: ${outcome.error ?? outcome.status.toLowerCase()}`);
  return EXIT.runFailed;
}

async function update(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...common, ...specOptions, 'pause-on-failure': { type: 'boolean' }, 'no-pause-on-failure': { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help('update');
  if (values['pause-on-failure'] && values['no-pause-on-failure']) throw new UsageError('give --pause-on-failure or --no-pause-on-failure, not both');
  const cfg = config();
  const scheduleId = scheduleIdOf(positionals, values.dataset ?? cfg.GUDANG_DATASET, 'update');
  const changes: ScheduleChanges = {
    ...specChanges(values),
    sourceDir: values.source,
    note: values.note,
    pauseOnFailure: values['pause-on-failure'] ? true : values['no-pause-on-failure'] ? false : undefined,
  };
  if (Object.values(changes).every((v) => v === undefined)) throw new UsageError('schedule update: nothing to change (see --help)');
  const client = await connect(cfg);
  const d = await onSchedule(scheduleId, cfg, () => updateSchedule(client, scheduleId, changes));
  console.log(`updated schedule ${scheduleId}\n`);
  console.log(await formatDescription(client, cfg, d));
  return EXIT.ok;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true, strict: true });
  if (values.help) return help('delete');
  const cfg = config();
  const scheduleId = scheduleIdOf(positionals, values.dataset ?? cfg.GUDANG_DATASET, 'delete');
  const client = await connect(cfg);
  await onSchedule(scheduleId, cfg, () => deleteSchedule(client, scheduleId));
  console.log(`deleted schedule ${scheduleId}`);
  return EXIT.ok;
}

async function backfill(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...common, from: { type: 'string' }, to: { type: 'string' }, source: { type: 'string' }, wait: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return help('backfill');
  const from = checkPeriod(values.from, '--from');
  const to = checkPeriod(values.to, '--to');
  if (!from || !to) throw new UsageError('schedule backfill: --from YYYY-MM and --to YYYY-MM are required');
  let periods: string[];
  try {
    periods = periodRange(from, to);
  } catch (err) {
    throw new UsageError(`schedule backfill: ${(err as Error).message}`);
  }
  const cfg = config();
  const dataset = checkDataset(values.dataset ?? cfg.GUDANG_DATASET, 'schedule backfill');
  const scheduleId = scheduleIdOf(positionals, dataset, 'backfill');
  const client = await connect(cfg);
  const d = await describeSchedule(client, scheduleId);
  if (!d && !values.source) {
    throw new ExitError(EXIT.notFound, `no schedule "${scheduleId}" to take the dataset and source from: create it, or give --source (and --dataset)`);
  }
  const input = d ? scheduleInput(d) : undefined;
  const started = await startBackfill(client, cfg, {
    dataset: input?.dataset ?? dataset,
    sourceDir: values.source ?? input!.sourceDir,
    from,
    to,
    scheduleId: d ? scheduleId : undefined,
  });
  console.log(
    `${started.started ? 'started' : 'already running, joined'} backfill ${started.workflowId} (run ${started.runId}): ` +
      `${periods.length} month${periods.length === 1 ? '' : 's'}, ${periods.join(', ')}`,
  );
  console.log(`web ui: ${webUiLink(cfg, started.workflowId, started.runId)}`);
  if (!values.wait) return EXIT.ok;
  const outcome = await followBackfill(started.handle, processOutput());
  console.log(formatBackfill(started.workflowId, outcome));
  return outcome.status === 'COMPLETED' ? EXIT.ok : EXIT.runFailed;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  create,
  describe,
  list,
  pause: (argv) => pauseOrUnpause(argv, 'pause'),
  unpause: (argv) => pauseOrUnpause(argv, 'unpause'),
  trigger,
  update,
  delete: remove,
  backfill,
};

/** `gudang schedule <subcommand> ...`; usage errors name the subcommand so main prints its help. */
export async function scheduleCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') return help('main');
  const fn = SUBCOMMANDS[sub];
  if (!fn) throw new UsageError(`schedule: unknown subcommand "${sub}" (one of ${Object.keys(SUBCOMMANDS).join(', ')})`);
  try {
    return await fn(rest);
  } catch (err) {
    if (err instanceof UsageError || isParseError(err)) {
      throw new UsageError(`${(err as Error).message}\n\n${SCHEDULE_HELP[sub]}`);
    }
    throw err;
  }
}
