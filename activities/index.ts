import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GateResult, LoadResult, ModelResult, RunPlan } from '../src/contracts';
import { getDataset } from '../src/datasets';
import type { DatasetSpec } from '../src/datasets';
import type { Pool } from '../src/db';
import { isInputError } from '../src/errors';
import { loadSource } from '../src/ingest/load';
import { runLayerGates } from '../src/warehouse/gates';
import { runModel } from '../src/warehouse/models';

// All I/O of the pipeline lives here. Every activity is safe to retry:
// loads replace their staging table in one transaction, models rebuild their table in one transaction,
// gates only read.

export interface LoadSourceInput {
  dataset: string;
  source: string;
  sourceDir: string;
}

export interface BuildModelInput {
  dataset: string;
  layer: string;
  model: string;
}

export interface CheckQualityInput {
  dataset: string;
  layer: string;
}

/** Bad input becomes a non-retryable failure of its own type; anything else is left to the retry policy. */
async function failFastOnBadInput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isInputError(err)) {
      throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: true, details: [err.details] });
    }
    throw err;
  }
}

function findLayer(spec: DatasetSpec, layer: string) {
  const found = spec.layers.find((l) => l.name === layer);
  if (!found) throw ApplicationFailure.nonRetryable(`dataset ${spec.name} has no layer "${layer}"`, 'UnknownDataset');
  return found;
}

export function createActivities(pool: Pool) {
  return {
    /** Resolves a dataset into what the workflow orchestrates: source names and model names per layer. */
    async planRun(input: { dataset: string }): Promise<RunPlan> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        return {
          dataset: spec.name,
          sources: spec.sources.map((s) => ({ name: s.name, file: s.file, table: `staging.${s.name}` })),
          layers: spec.layers.map((l) => ({ name: l.name, models: l.models.map((m) => m.name) })),
        };
      });
    },

    async loadSource(input: LoadSourceInput): Promise<LoadResult> {
      return failFastOnBadInput(async () => {
        const ctx = Context.current();
        const spec = getDataset(input.dataset).sources.find((s) => s.name === input.source);
        if (!spec) throw ApplicationFailure.nonRetryable(`dataset ${input.dataset} has no source "${input.source}"`, 'UnknownDataset');
        return loadSource(pool, spec, input.sourceDir, {
          runId: ctx.info.workflowExecution?.runId ?? ctx.info.activityId,
          workflowId: ctx.info.workflowExecution?.workflowId ?? '',
          dataset: input.dataset,
          heartbeat: (progress) => ctx.heartbeat(progress),
        });
      });
    },

    async buildModel(input: BuildModelInput): Promise<ModelResult> {
      return failFastOnBadInput(async () => {
        const layer = findLayer(getDataset(input.dataset), input.layer);
        const model = layer.models.find((m) => m.name === input.model);
        if (!model) throw ApplicationFailure.nonRetryable(`layer ${input.layer} has no model "${input.model}"`, 'UnknownDataset');
        const result = await runModel(pool, model);
        return { ...result, layer: input.layer };
      });
    },

    async checkQuality(input: CheckQualityInput): Promise<GateResult> {
      return failFastOnBadInput(async () => runLayerGates(pool, findLayer(getDataset(input.dataset), input.layer)));
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
