import { parseArgs } from 'node:util';
import { findRun, runInput, startPipeline } from '../client';
import { SA } from '../contracts';
import type { PipelineInput } from '../contracts';
import { EXIT, ExitError, UsageError, config, connect, onePositional } from './common';
import { STEP_NAMES, checkStep, followStartedRun } from './run';

export const RERUN_HELP = `usage: gudang rerun RUN [--from-step STEP] [--wait]

Redoes a failed or finished run with its original input (dataset, source, period), as a new run with
trigger "rerun". With --from-step it starts at that step: the steps before it are skipped (and recorded as
skipped), so e.g. --from-step facts rebuilds the fact and the marts from the staging tables as they are,
without loading any file again.

  RUN               the run to redo: a workflow id (its latest run), "<workflow id>/<run id>", or a run id
  --from-step STEP  ${STEP_NAMES.join(' | ')} (default ingest: everything)
  --wait            follow the new run until it ends; exit 1 with the error if it fails

The new run's workflow id is gudang-<dataset>-<period> (or the original run key), like a manual run.

exit codes: 0 started (with --wait: completed), 1 the new run failed, 2 bad usage, 3 Temporal unreachable,
            4 no such run, 5 the run is still running (cancel it or wait for it first)`;

export async function rerunCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'from-step': { type: 'string' },
      wait: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(RERUN_HELP);
    return EXIT.ok;
  }
  const id = onePositional(positionals, 'RUN (a workflow id or run id)', 'rerun');
  const fromStep = checkStep(values['from-step'], 'rerun');
  const cfg = config();
  const client = await connect(cfg);
  const found = await findRun(client, id);
  if (!found) throw new ExitError(EXIT.notFound, `no run "${id}" in namespace ${cfg.TEMPORAL_NAMESPACE}`);
  const { handle, description } = found;
  if (description.type !== 'pipelineWorkflow') throw new UsageError(`rerun: ${handle.workflowId} is a ${description.type}, not a pipeline run`);
  if (description.status.name === 'RUNNING') {
    throw new ExitError(EXIT.conflict, `${handle.workflowId} (run ${description.runId}) is still running: wait for it, or cancel it first`);
  }
  const original = await runInput<PipelineInput>(client, handle);
  // A scheduled run worked its period out itself: it is in its search attributes, not its input.
  const recorded = description.typedSearchAttributes.get(SA.period);
  const period = original.period ?? (recorded && recorded !== 'full' ? recorded : undefined);
  const input: PipelineInput = {
    ...original,
    period,
    runKey: original.trigger === 'schedule' ? undefined : original.runKey,
    trigger: 'rerun',
    fromStep,
    rerunOf: `${handle.workflowId}/${description.runId}`,
  };
  const started = await startPipeline(client, cfg, input);
  console.log(
    `rerun of ${handle.workflowId} (run ${description.runId}, ${description.status.name.toLowerCase()})` +
      `${fromStep ? ` from step ${fromStep}` : ''}: ${started.started ? 'started' : 'already running, joined'} ${started.workflowId} (run ${started.runId})`,
  );
  return followStartedRun(cfg, started, values.wait);
}
