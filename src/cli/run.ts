import { parseArgs } from 'node:util';
import { startPipeline, webUiLink } from '../client';
import type { StartedRun } from '../client';
import type { Config } from '../config';
import type { RunStepName } from '../contracts';
import { EXIT, UsageError, checkDataset, checkPeriod, checkRejectBudget, config, connect, defaultSourceDir, sourceDbOption } from './common';
import { followRun, formatOutcome, processOutput } from './progress';

export const RUN_HELP = `usage: gudang run [--period YYYY-MM] [--source DIR] [--dataset NAME] [--from-step STEP] [--run-key KEY]
                  [--reject-budget B] [--allow-empty] [--wait]

Starts a pipeline run. With --period it loads that calendar month: the dimension sources are refreshed and
the orders dated in the month (with their lines) replace that month's fact and mart rows. Without --period
it is a full refresh of everything in the source.

The workflow id is gudang-<dataset>-<period> (gudang-<dataset>-full without a period): starting a run that
is already in flight joins it instead of loading twice, and "the March 2022 load" is always easy to find.

  --period YYYY-MM   the month to load (default: everything, a full refresh)
  --source DIR       directory with the source files, as the worker sees it
                     (default: $GUDANG_SOURCE_DIR, else the dataset's sample folder)
  --dataset NAME     dataset registry entry (default: $GUDANG_DATASET or django-apparel)
  --from-step STEP   start at this step: ingest (default), dimensions, facts or marts
  --run-key KEY      override the last part of the workflow id (default: the period, or "full")
  --reject-budget B  rows each source may reject: "N" rows or "P%" of rows read
  --allow-empty      let a source with no rows (empty or header-only file) empty its staging table;
                     without it such a delivery fails the run, naming the file
  --source-db URL    read orders and order_details from this PostgreSQL or MariaDB database (default
                     $GUDANG_SOURCE_DB_URL); sent without its password (docs/database-sources.md)
  --wait             follow the run until it ends (a progress bar on a terminal, a line per step in a
                     log), print its steps and rows; exit 1 with the error if it fails

exit codes: 0 started (with --wait: completed), 1 the run failed, 2 bad usage, 3 Temporal unreachable`;

export const STEP_NAMES = ['ingest', 'dimensions', 'facts', 'marts'];

export function checkStep(step: string | undefined, command: string): RunStepName | undefined {
  if (step === undefined) return undefined;
  if (!/^[a-z][a-z0-9_]*$/.test(step)) throw new UsageError(`${command}: bad --from-step "${step}" (steps: ${STEP_NAMES.join(', ')})`);
  return step;
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      period: { type: 'string' },
      source: { type: 'string' },
      dataset: { type: 'string' },
      'from-step': { type: 'string' },
      'run-key': { type: 'string' },
      'reject-budget': { type: 'string' },
      'allow-empty': { type: 'boolean', default: false },
      'source-db': { type: 'string' },
      wait: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(RUN_HELP);
    return EXIT.ok;
  }
  const cfg = config();
  const dataset = checkDataset(values.dataset ?? cfg.GUDANG_DATASET, 'run');
  const period = checkPeriod(values.period, '--period');
  const runKey = values['run-key'];
  if (runKey !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(runKey)) throw new UsageError(`run: bad --run-key "${runKey}"`);
  const fromStep = checkStep(values['from-step'], 'run');
  const sourceDir = values.source ?? defaultSourceDir(dataset);
  const rejectBudget = checkRejectBudget(values['reject-budget'], '--reject-budget');
  const allowEmpty = values['allow-empty'] ? true : undefined;
  const sourceDb = sourceDbOption(values['source-db'], cfg, 'run');

  const client = await connect(cfg);
  const started = await startPipeline(client, cfg, { dataset, sourceDir, period, runKey, fromStep, trigger: 'manual', rejectBudget, allowEmpty, sourceDb });
  console.log(`${started.started ? 'started' : 'already running, joined'} ${started.workflowId} (run ${started.runId})`);
  return followStartedRun(cfg, started, values.wait);
}

/** Prints the run's Web UI link; with --wait follows it to the end and turns its outcome into an exit code. */
export async function followStartedRun(cfg: Config, started: StartedRun, wait: boolean | undefined): Promise<number> {
  console.log(`web ui: ${webUiLink(cfg, started.workflowId, started.runId)}`);
  if (!wait) return EXIT.ok;
  const outcome = await followRun(started.handle, processOutput());
  console.log(formatOutcome(started.workflowId, started.runId, outcome, false));
  if (outcome.status === 'COMPLETED') return EXIT.ok;
  console.error(`run failed: ${outcome.error ?? outcome.status.toLowerCase()}`);
  return EXIT.runFailed;
}
