import { pathToFileURL } from 'node:url';
import { EXIT, ExitError, UsageError, isParseError, isUnavailable } from './exit';

// The client script: `npm run pipeline -- <command> [options]`, or `npx gudang <command> [options]`.
// One file per command group, loaded when its command runs (so --help answers at once); this file only
// dispatches and maps errors to exit codes (see EXIT in common.ts).

export { EXIT };

const MAIN_HELP = `usage: gudang <command> [options]

commands:
  run        start a pipeline run: a month (--period YYYY-MM) or a full refresh; --wait to follow it
  status     live progress of a run (current step, rows per table), or how it ended
  cancel     cancel a running run
  runs       run history: status, period, duration, rows, error (ops.pipeline_runs)
  rerun      redo a failed or finished run, optionally from a later step (--from-step facts)
  schedule   the monthly schedule: create, describe, list, pause, unpause, trigger, update, delete, backfill
  backup     warehouse backups: create (a workflow), list, verify, restore into an empty database
  stream     the real-time stream from the shop's PostgreSQL: start, status (lag, batch sizes, retained WAL), stop

Run \`gudang <command> --help\` for a command's options.

environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE (gudang),
  TEMPORAL_UI_URL, GUDANG_DATASET (django-apparel), GUDANG_SOURCE_DIR, DATABASE_URL (for runs)

exit codes: 0 ok, 1 the run failed, 2 bad usage, 3 Temporal (or PostgreSQL) unreachable, 4 not found,
            5 conflict (schedule exists, run still running)`;

interface Command {
  run(argv: string[]): Promise<number>;
  help: string;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => {
    const m = await import('./run');
    return { run: m.runCommand, help: m.RUN_HELP };
  },
  status: async () => {
    const m = await import('./status');
    return { run: m.statusCommand, help: m.STATUS_HELP };
  },
  cancel: async () => {
    const m = await import('./status');
    return { run: m.cancelCommand, help: m.CANCEL_HELP };
  },
  runs: async () => {
    const m = await import('./runs');
    return { run: m.runsCommand, help: m.RUNS_HELP };
  },
  rerun: async () => {
    const m = await import('./rerun');
    return { run: m.rerunCommand, help: m.RERUN_HELP };
  },
  backup: async () => {
    const m = await import('./backup');
    return { run: m.backupCommand, help: m.BACKUP_HELP };
  },
  stream: async () => {
    const m = await import('./stream');
    return { run: m.streamCommand, help: m.STREAM_HELP };
  },
  schedule: async () => {
    const m = await import('./schedule');
    return { run: m.scheduleCommand, help: m.SCHEDULE_HELP.main! };
  },
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(MAIN_HELP);
    return EXIT.ok;
  }
  let cmd: Command | undefined;
  try {
    const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!load) throw new UsageError(`unknown command "${command}"`);
    cmd = await load();
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError || isParseError(err)) {
      const full = (err as Error).message;
      // One line says what is wrong (parseArgs' own messages span several lines), then the usage.
      // Schedule subcommands attach their own help already.
      const at = full.indexOf('\nusage: ');
      const message = (at >= 0 ? full.slice(0, at) : full).trim().replace(/\s*\n\s*/g, ' ');
      console.error(`${message}\n\n${at >= 0 ? full.slice(at + 1) : (cmd?.help ?? MAIN_HELP)}`);
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
    console.error(`error: ${describeUnexpected(err, argv)}`);
    return EXIT.runFailed;
  }
}

/**
 * An error no command translated: say which command it was and, for an error from the Temporal server (a gRPC
 * status such as the bare "Failed to create schedule"), which server and namespace, and its details.
 */
function describeUnexpected(err: unknown, argv: string[]): string {
  const e = err as Error & { code?: unknown; details?: unknown };
  const command = `gudang ${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}`;
  if (typeof e?.code !== 'number') return `${command}: ${e?.message ?? String(err)}`;
  const server = `Temporal at ${process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233'}, namespace ${process.env.TEMPORAL_NAMESPACE || 'default'}`;
  const details = typeof e.details === 'string' && e.details && !e.message.includes(e.details) ? ` (${e.details})` : '';
  return `${command}: ${server} refused the request: ${e.message}${details}; the server's log says why (and \`${command} --help\` lists the options)`;
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
