/**
 * `npm run generate -- [--dataset NAME] [options]`: makes a dataset's sample files with the generator its registry
 * entry names (src/datasets/*.ts, field `generator`): dataset/generate/django-apparel.ts (the default) or
 * dataset/generate/superstore.ts. `--help` after --dataset NAME shows that generator's options.
 *
 * Django Apparel's generator API is re-exported here, where tests and the benchmark have always imported it.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { datasetNames, getDataset } from '../src/datasets';
import { isMain } from './generate/common';

export { ALL_FORMATS, DEFAULTS, generateDataset, parseArgs } from './generate/django-apparel';
export type { Format, GenerateOptions, GenerateResult, GeneratedFile } from './generate/django-apparel';
export { Rng } from './generate/common';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Picks --dataset NAME (or --dataset=NAME) out of argv; the rest goes to that dataset's generator. */
export function splitDataset(argv: readonly string[]): { dataset: string; rest: string[] } {
  const rest: string[] = [];
  let dataset = 'django-apparel';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--dataset') {
      const v = argv[++i];
      if (v === undefined) throw new Error('--dataset needs a value');
      dataset = v;
    } else if (arg.startsWith('--dataset=')) dataset = arg.slice('--dataset='.length);
    else rest.push(arg);
  }
  return { dataset, rest };
}

async function main(): Promise<number> {
  let dataset: string;
  let rest: string[];
  try {
    ({ dataset, rest } = splitDataset(process.argv.slice(2)));
    if (!datasetNames().includes(dataset)) throw new Error(`unknown dataset "${dataset}" (known: ${datasetNames().join(', ')})`);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const module = (await import(pathToFileURL(path.join(ROOT, getDataset(dataset).generator)).href)) as { main(argv: readonly string[]): Promise<number> };
  return module.main(rest);
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
