import { InputError } from '../errors';
import { assertDisjointSchemas } from './define';
import { djangoApparel } from './django-apparel';
import { superstore } from './superstore';
import type { DatasetSpec } from './types';

const registered: DatasetSpec[] = [djangoApparel, superstore];
assertDisjointSchemas(registered);
const registry = new Map<string, DatasetSpec>(registered.map((d) => [d.name, d]));

export function getDataset(name: string): DatasetSpec {
  const spec = registry.get(name);
  if (!spec) throw new InputError('UnknownDataset', `unknown dataset "${name}"; known: ${[...registry.keys()].join(', ')}`);
  return spec;
}

export function datasetNames(): string[] {
  return [...registry.keys()];
}

export type { DatasetSchemas, DatasetSpec, LayerSpec, ModelSpec } from './types';
