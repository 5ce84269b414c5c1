import { parseArgs } from 'node:util';
import { findRun, webUiLink } from '../client';
import { EXIT, ExitError, config, connect, onePositional } from './common';
import { followBackfill, followRun, formatBackfill, formatOutcome, processOutput } from './progress';

export const STATUS_HELP = `usage: gudang status RUN [--once]

Shows a run's progress live until it ends: the current step and the rows loaded per table; a progress bar
on a terminal, one plain line per step when the output is not a terminal (a log file, a pipe). A finished
run prints its steps, rows and error straight away. Works for backfills too (one line per month).

  RUN      a workflow id (its latest run), e.g. gudang-django-apparel-2022-03, "<workflow id>/<run id>",
           or a Temporal run id
  --once   print the current state once instead of following the run

exit codes: 0 the run completed (or, with --once, is running), 1 it failed, was cancelled or terminated,
            3 Temporal unreachable, 4 no such run`;

export const CANCEL_HELP = `usage: gudang cancel RUN [--wait]

Requests cancellation of a running run. Steps in flight are asked to stop; a model build finishes its
transaction or rolls it back, never half-writes. The run records itself as cancelled in ops.pipeline_runs.

  RUN            a workflow id, "<workflow id>/<run id>", or a Temporal run id
  --wait         wait until the run has stopped

exit codes: 0 cancellation requested (or the run had already ended), 3 Temporal unreachable, 4 no such run`;

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { once: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(STATUS_HELP);
    return EXIT.ok;
  }
  const id = onePositional(positionals, 'RUN (a workflow id or run id)', 'status');
  const cfg = config();
  const client = await connect(cfg);
  const found = await findRun(client, id);
  if (!found) throw new ExitError(EXIT.notFound, `no run "${id}" in namespace ${cfg.TEMPORAL_NAMESPACE}`);
  const { handle, description } = found;
  console.log(`${description.type} ${handle.workflowId} (run ${description.runId}), started ${description.startTime.toISOString()}`);
  console.log(`web ui: ${webUiLink(cfg, handle.workflowId, description.runId)}`);
  const out = processOutput();
  if (description.type === 'backfillWorkflow') {
    const outcome = await followBackfill(handle, out, { once: values.once });
    console.log(formatBackfill(handle.workflowId, outcome));
    return outcome.status === 'COMPLETED' || outcome.status === 'RUNNING' ? EXIT.ok : EXIT.runFailed;
  }
  const outcome = await followRun(handle, out, { once: values.once });
  console.log(formatOutcome(handle.workflowId, description.runId, outcome));
  return outcome.status === 'COMPLETED' || outcome.status === 'RUNNING' ? EXIT.ok : EXIT.runFailed;
}

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { wait: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(CANCEL_HELP);
    return EXIT.ok;
  }
  const id = onePositional(positionals, 'RUN (a workflow id or run id)', 'cancel');
  const cfg = config();
  const client = await connect(cfg);
  const found = await findRun(client, id);
  if (!found) throw new ExitError(EXIT.notFound, `no run "${id}" in namespace ${cfg.TEMPORAL_NAMESPACE}`);
  const { handle, description } = found;
  if (description.status.name !== 'RUNNING') {
    console.log(`${handle.workflowId} (run ${description.runId}) already ${description.status.name.toLowerCase()}: nothing to cancel`);
    return EXIT.ok;
  }
  await handle.cancel();
  console.log(`cancellation requested for ${handle.workflowId} (run ${description.runId})`);
  if (values.wait) {
    for (;;) {
      const status = (await handle.describe()).status.name;
      if (status !== 'RUNNING') {
        console.log(`${handle.workflowId} ${status.toLowerCase()}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return EXIT.ok;
}
