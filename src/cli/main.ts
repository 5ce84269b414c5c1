import { parseArgs } from 'node:util';
import { connectClient, failureMessage, startPipeline, waitForSummary, webUiLink } from '../client';
import { loadConfig } from '../config';
import { datasetNames } from '../datasets';
import { formatSummary } from './format';

// The client script: `npm run pipeline -- <command> [options]` (or `npx gudang <command>`).
// Exit codes: 0 success, 1 the run failed, 2 bad usage, 3 cannot reach Temporal.

export const EXIT = { ok: 0, runFailed: 1, usage: 2, unavailable: 3 } as const;

class UsageError extends Error {}

const HELP: Record<string, string> = {
  main: `usage: gudang <command> [options]

commands:
  run      start a pipeline run (--help for options)

Run \`gudang <command> --help\` for a command's options.`,
  run: `usage: gudang run --source DIR [--dataset NAME] [--run-key KEY] [--wait]

Starts a pipeline run that loads the files in DIR. The workflow id is gudang-<dataset>-<run key>:
starting a run that is already in flight joins it instead of loading twice.

  --source DIR     directory with the source files, as the worker sees it (required)
  --dataset NAME   dataset registry entry (default: $GUDANG_DATASET or django-apparel)
  --run-key KEY    run key, part of the workflow id (default: full)
  --wait           wait for the run to finish, print its summary; exit 1 if it failed`,
};

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      source: { type: 'string' },
      dataset: { type: 'string' },
      'run-key': { type: 'string' },
      wait: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return help('run');
  const config = loadConfig();
  if (!values.source) throw new UsageError('run: --source DIR is required');
  const dataset = values.dataset ?? config.GUDANG_DATASET;
  if (!datasetNames().includes(dataset)) throw new UsageError(`run: unknown dataset "${dataset}" (known: ${datasetNames().join(', ')})`);
  const runKey = values['run-key'];
  if (runKey !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(runKey)) throw new UsageError(`run: bad --run-key "${runKey}"`);

  const client = await connectOrExit(config);
  const started = await startPipeline(client, config, { dataset, sourceDir: values.source, runKey });
  console.log(`${started.started ? 'started' : 'already running, joined'} ${started.workflowId} (run ${started.runId})`);
  console.log(`web ui: ${webUiLink(config, started.workflowId, started.runId)}`);
  if (!values.wait) return EXIT.ok;
  try {
    const summary = await waitForSummary(started.handle);
    console.log(formatSummary(summary));
    return EXIT.ok;
  } catch (err) {
    console.error(`run failed: ${failureMessage(err)}`);
    return EXIT.runFailed;
  }
}

async function connectOrExit(config: ReturnType<typeof loadConfig>) {
  try {
    return await connectClient(config);
  } catch (err) {
    console.error(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS}: ${(err as Error).message}`);
    process.exit(EXIT.unavailable);
  }
}

function help(topic: string): number {
  console.log(HELP[topic] ?? HELP.main);
  return EXIT.ok;
}

const commands: Record<string, (argv: string[]) => Promise<number>> = { run };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') return help('main');
  const fn = commands[command];
  try {
    if (!fn) throw new UsageError(`unknown command "${command}"`);
    return await fn(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\n\n${HELP[command ?? 'main'] ?? HELP.main}`);
      return EXIT.usage;
    }
    console.error(`error: ${(err as Error).message}`);
    return EXIT.runFailed;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(EXIT.runFailed);
  },
);
