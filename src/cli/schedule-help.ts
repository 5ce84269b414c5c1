import { OVERLAP_POLICIES, SCHEDULE_DEFAULTS } from '../schedules';

// The help texts of `gudang schedule` and its subcommands.

const SPEC_OPTIONS = `  --cron EXPR          a cron expression, e.g. "0 1 1 * *" (minute hour day-of-month month day-of-week)
  --calendar SPEC      a calendar: space-separated field=value pairs, fields second minute hour dayOfMonth
                       month year dayOfWeek, values N, N-M, N-M/STEP, A,B or *, e.g. "dayOfMonth=1 hour=1"
  --timezone TZ        IANA time zone of the cron/calendar and of the month a run loads (default ${SCHEDULE_DEFAULTS.timezone})
  --overlap POLICY     what a due run does while the previous one is still running:
                       ${OVERLAP_POLICIES.join(', ')} (default ${SCHEDULE_DEFAULTS.overlap})
  --catchup-window D   how late a missed run (server or workers down) may still start, e.g. "1 day"
                       (default ${SCHEDULE_DEFAULTS.catchupWindow})`;

export const SCHEDULE_HELP: Record<string, string> = {
  main: `usage: gudang schedule <subcommand> [SCHEDULE_ID] [options]

The monthly load as a Temporal Schedule. A scheduled run loads the month before its scheduled time, in the
schedule's time zone: the run at 01:00 on 1 April loads March. SCHEDULE_ID defaults to gudang-<dataset>-monthly.

subcommands:
  create     create the schedule (default: monthly on the 1st at 01:00, Asia/Jakarta, overlap SKIP)
  describe   show its spec, policies, state, next runs (with the month each loads) and recent runs
  list       list the schedules in the namespace
  pause      pause it, with a note saying why
  unpause    resume it
  trigger    start one run now, under the schedule's overlap policy
  update     change its spec, time zone, policies or source directory
  delete     delete it (runs already started are not affected)
  backfill   load a range of months, one run per month, oldest first

Run \`gudang schedule <subcommand> --help\` for a subcommand's options.

exit codes: 0 ok, 1 a run it waited for failed, 2 bad usage, 3 Temporal unreachable, 4 no such schedule,
            5 the schedule id is taken (create)`,
  create: `usage: gudang schedule create [SCHEDULE_ID] [--source DIR] [--dataset NAME] [--cron EXPR | --calendar SPEC]
                              [--timezone TZ] [--overlap POLICY] [--catchup-window D] [--pause-on-failure]
                              [--paused] [--note TEXT] [--source-db URL]
                              [--backup-to DIR|s3://bucket/prefix/ [--backup-keep N]]

Creates the schedule that loads the previous month, by default monthly on the 1st at 01:00 Asia/Jakarta
(the original crontab \`0 1 1 * *\`).

  --source DIR         directory with the source files, as the worker sees it
                       (default: $GUDANG_SOURCE_DIR, else the dataset's sample folder)
  --dataset NAME       dataset registry entry (default: $GUDANG_DATASET or django-apparel)
${SPEC_OPTIONS}
  --pause-on-failure   pause the schedule when a run fails, until someone unpauses it
  --paused             create it paused
  --note TEXT          a note shown by describe and in the Web UI
  --source-db URL      read orders and order_details from this PostgreSQL/MariaDB database (default
                       $GUDANG_SOURCE_DB_URL); sent without its password (docs/database-sources.md)
  --backup-to LOC      each run ends with a backup of the dataset's warehouse, marts and run history to this
                       folder or s3://bucket/prefix/ (S3 credentials from the worker's environment, never here)
  --backup-keep N      keep the newest N backups there; older ones are removed only after the new one verifies`,
  describe: `usage: gudang schedule describe [SCHEDULE_ID] [--dataset NAME]

Shows the schedule: spec and time zone, overlap policy, catch-up window, pause-on-failure, paused or not (and
the note), the next run times with the month each will load, runs started, skipped and missed, and the
recent runs with their status.`,
  list: `usage: gudang schedule list

Lists the schedules in the namespace: id, dataset, state, next run, source.`,
  pause: `usage: gudang schedule pause [SCHEDULE_ID] [--note TEXT]

Pauses the schedule: no run starts until it is unpaused. The note (default: who paused it, and when) is
shown by describe and in the Web UI.`,
  unpause: `usage: gudang schedule unpause [SCHEDULE_ID] [--note TEXT]

Resumes a paused schedule. Runs missed while paused are not made up: use schedule backfill for those.`,
  trigger: `usage: gudang schedule trigger [SCHEDULE_ID] [--overlap POLICY] [--wait]

Starts one run now, as if it were due: it loads the month before now, in the schedule's time zone. It obeys
the schedule's overlap policy (SKIP by default: nothing starts while a run of this schedule is in progress)
unless --overlap says otherwise.

  --overlap POLICY   ${OVERLAP_POLICIES.join(', ')} (default: the schedule's)
  --wait             follow the run it started until it ends; exit 1 if it fails`,
  update: `usage: gudang schedule update [SCHEDULE_ID] [--source DIR] [--cron EXPR | --calendar SPEC] [--timezone TZ]
                              [--overlap POLICY] [--catchup-window D] [--pause-on-failure | --no-pause-on-failure]
                              [--note TEXT]

Changes the given settings and keeps the others.

  --source DIR         directory with the source files, as the worker sees it
${SPEC_OPTIONS}
  --pause-on-failure / --no-pause-on-failure
  --note TEXT`,
  delete: `usage: gudang schedule delete [SCHEDULE_ID]

Deletes the schedule. Runs it already started carry on; their history stays in Temporal and ops.pipeline_runs.`,
  backfill: `usage: gudang schedule backfill --from YYYY-MM --to YYYY-MM [SCHEDULE_ID] [--source DIR] [--wait]

Loads every month from --from to --to, both included: one pipeline run per month (workflow id
gudang-<dataset>-<YYYY-MM>, trigger backfill), oldest first, the next starting when the previous one has
completed; the first failure stops the backfill. It runs as a workflow of its own
(gudang-<dataset>-backfill-<from>-to-<to>), so it carries on if this command is stopped; starting the same
backfill again joins it. Dataset and source come from the schedule; --source overrides, and without a
schedule --source (and --dataset) are enough.

  --from YYYY-MM     first month
  --to YYYY-MM       last month
  --source DIR       directory with the source files (default: the schedule's)
  --dataset NAME     dataset, when there is no schedule (default: $GUDANG_DATASET or django-apparel)
  --wait             follow the backfill until it ends, a line per month; exit 1 if a month fails`,
};
