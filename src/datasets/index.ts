import { InputError } from '../errors';
import { djangoApparel } from './django-apparel';
import type { DatasetSpec } from './types';

const registry = new Map<string, DatasetSpec>([[djangoApparel.name, djangoApparel]]);

export function getDataset(name: string): DatasetSpec {
  const spec = registry.get(name);
  if (!spec) throw new InputError('UnknownDataset', `unknown dataset "${name}"; known: ${[...registry.keys()].join(', ')}`);
  return spec;
}

export function datasetNames(): string[] {
  return [...registry.keys()];
}

export type { DatasetSpec, LayerSpec, ModelSpec } from './types';
