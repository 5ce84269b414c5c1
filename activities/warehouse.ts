import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GateResult, ModelResult, RunPlan } from '../src/contracts';
import { loadConfig } from '../src/config';
import { getDataset } from '../src/datasets';
import type { DatasetSpec } from '../src/datasets';
import type { Pool } from '../src/db';
import { runLayerGates } from '../src/warehouse/gates';
import { runTagOf } from '../src/warehouse/build';
import { layerAfter, runModel } from '../src/warehouse/models';
import { discardRun, publishRun } from '../src/warehouse/publish';
import type { PublishResult } from '../src/warehouse/publish';
import { failFastOnBadInput } from './common';

export interface BuildModelInput {
  dataset: string;
  layer: string;
  model: string;
  /** YYYY-MM: rebuild only that month (models that are period-aware); absent = full refresh. */
  period?: string;
  /**
   * Write-audit-publish: leave the built table in gudang_build for the run's publish step. Absent (workflows from
   * before that step): the built table replaces the published one at once, as those runs expect.
   */
  stage?: boolean;
}

export interface CheckQualityInput {
  dataset: string;
  layer: string;
  /** YYYY-MM: the period the run loaded (checks that are period-aware reconcile that month). */
  period?: string;
}

function findLayer(spec: DatasetSpec, layer: string) {
  const found = spec.layers.find((l) => l.name === layer);
  if (!found) throw ApplicationFailure.nonRetryable(`dataset ${spec.name} has no layer "${layer}"`, 'UnknownDataset');
  return found;
}

/** The calling run's tag: its build tables are gudang_build.<schema>__<table>__<tag> (src/warehouse/build.ts). */
function currentRunTag(): string {
  return runTagOf(Context.current().info.workflowExecution?.runId ?? 'adhoc');
}

/** Planning, models and quality gates: SQL over the database, each safe to retry. */
export function createWarehouseActivities(pool: Pool) {
  return {
    /** Resolves a dataset into what the workflow orchestrates: source names and model names per layer. */
    async planRun(input: { dataset: string }): Promise<RunPlan> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        return {
          dataset: spec.name,
          sources: spec.sources.map((s) => ({ name: s.name, file: s.file, table: `${spec.schemas.staging}.${s.name}` })),
          layers: await Promise.all(
            spec.layers.map(async (l) => {
              const after = await layerAfter(l);
              return { name: l.name, models: l.models.map((m) => m.name), ...(Object.keys(after).length > 0 ? { after } : {}) };
            }),
          ),
          parents: Object.fromEntries(
            spec.sources.map((s) => [s.name, [...new Set((spec.relations ?? []).filter((r) => r.child === s.name).map((r) => r.parent))]]),
          ),
        };
      });
    },

    async buildModel(input: BuildModelInput): Promise<ModelResult> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        const layer = findLayer(spec, input.layer);
        const model = layer.models.find((m) => m.name === input.model);
        if (!model) throw ApplicationFailure.nonRetryable(`layer ${input.layer} has no model "${input.model}"`, 'UnknownDataset');
        const result = await runModel(pool, spec, model, { period: input.period, runTag: currentRunTag(), publish: !input.stage });
        return { ...result, layer: input.layer };
      });
    },

    async checkQuality(input: CheckQualityInput): Promise<GateResult> {
      return failFastOnBadInput(async () => {
        const spec = getDataset(input.dataset);
        const connections = loadConfig().GUDANG_GATE_CONNECTIONS;
        return runLayerGates(pool, spec, findLayer(spec, input.layer), { period: input.period, runTag: currentRunTag(), connections });
      });
    },

    /** After the last gate: every table the run built becomes the published one, all in one transaction. */
    async publishWarehouse(input: { dataset: string }): Promise<PublishResult> {
      return failFastOnBadInput(async () => publishRun(pool, getDataset(input.dataset), currentRunTag()));
    },

    /** A failed or cancelled run: drop what it built (nothing it built was published). */
    async discardWarehouse(input: { dataset: string }): Promise<{ tables: number }> {
      getDataset(input.dataset);
      return { tables: await discardRun(pool, currentRunTag()) };
    },
  };
}
