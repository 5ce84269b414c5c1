import { pathToFileURL } from 'node:url';
import { EXIT, ExitError, UsageError, isParseError, isUnavailable } from './common';
import { RERUN_HELP, rerunCommand } from './rerun';
import { RUN_HELP, runCommand } from './run';
import { RUNS_HELP, runsCommand } from './runs';
import { SCHEDULE_HELP, scheduleCommand } from './schedule';
import { CANCEL_HELP, STATUS_HELP, cancelCommand, statusCommand } from './status';

// The client script: `npm run pipeline -- <command> [options]`, or `npx gudang <command> [options]`.
// One file per command group; this one only dispatches and maps errors to exit codes (see EXIT in common.ts).

export { EXIT };

const MAIN_HELP = `usage: gudang <command> [options]

commands:
  run        start a pipeline run: a month (--period YYYY-MM) or a full refresh; --wait to follow it
  status     live progress of a run (current step, rows per table), or how it ended
  cancel     cancel a running run
  runs       run history: status, period, duration, rows, error (ops.pipeline_runs)
  rerun      redo a failed or finished run, optionally from a later step (--from-step facts)
  schedule   the monthly schedule: create, describe, list, pause, unpause, trigger, update, delete, backfill

Run \`gudang <command> --help\` for a command's options.

environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE (gudang),
  TEMPORAL_UI_URL, GUDANG_DATASET (django-apparel), GUDANG_SOURCE_DIR, DATABASE_URL (for runs)

exit codes: 0 ok, 1 the run failed, 2 bad usage, 3 Temporal (or PostgreSQL) unreachable, 4 not found,
            5 conflict (schedule exists, run still running)`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  run: { run: runCommand, help: RUN_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  cancel: { run: cancelCommand, help: CANCEL_HELP },
  runs: { run: runsCommand, help: RUNS_HELP },
  rerun: { run: rerunCommand, help: RERUN_HELP },
  schedule: { run: scheduleCommand, help: SCHEDULE_HELP.main! },
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(MAIN_HELP);
    return EXIT.ok;
  }
  const cmd = COMMANDS[command];
  try {
    if (!cmd) throw new UsageError(`unknown command "${command}"`);
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError || isParseError(err)) {
      const message = (err as Error).message;
      // Schedule subcommands attach their own help already.
      console.error(message.includes('\nusage: ') ? message : `${message}\n\n${cmd?.help ?? MAIN_HELP}`);
      return EXIT.usage;
    }
    if (err instanceof ExitError) {
      console.error(err.message);
      return err.code;
    }
    if (isUnavailable(err)) {
      console.error(`cannot reach Temporal: ${(err as Error).message}`);
      return EXIT.unavailable;
    }
    console.error(`error: ${(err as Error).message}`);
    return EXIT.runFailed;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Open gRPC connections would keep the process alive: leave once stdout has been flushed.
      process.stdout.write('', () => process.exit(code));
    },
    (err) => {
      console.error(err);
      process.exit(EXIT.runFailed);
    },
  );
}
