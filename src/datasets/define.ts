import type { DatasetSpec } from './types';

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a dataset's registry entry once, at start-up, and stamps each source with the dataset's staging schema,
 * so the loader writes `<schemas.staging>.<source>` without knowing which dataset it serves.
 */
export function defineDataset(spec: DatasetSpec): DatasetSpec {
  for (const [role, schema] of Object.entries(spec.schemas)) {
    if (!SCHEMA.test(schema)) throw new Error(`dataset ${spec.name}: ${role} schema "${schema}" is not a plain lower-case identifier`);
  }
  if (new Set(Object.values(spec.schemas)).size !== 3) throw new Error(`dataset ${spec.name}: staging, warehouse and mart need three different schemas`);
  const names = spec.sources.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`dataset ${spec.name}: two sources are named ${dup}`);
  for (const layer of spec.layers) {
    for (const model of layer.models) {
      const schema = model.table.split('.')[0];
      if (schema !== spec.schemas.warehouse && schema !== spec.schemas.mart) {
        throw new Error(`dataset ${spec.name}: model ${model.name} builds ${model.table}, outside its schemas ${spec.schemas.warehouse} and ${spec.schemas.mart}`);
      }
    }
  }
  return { ...spec, sources: spec.sources.map((s) => ({ ...s, stagingSchema: spec.schemas.staging })) };
}

/** Every schema of the registered datasets must be distinct: no dataset reads or writes another's tables. */
export function assertDisjointSchemas(specs: readonly DatasetSpec[]): void {
  const owner = new Map<string, string>();
  for (const spec of specs) {
    for (const schema of Object.values(spec.schemas)) {
      const other = owner.get(schema);
      if (other !== undefined) throw new Error(`datasets ${other} and ${spec.name} both use schema ${schema}`);
      owner.set(schema, spec.name);
    }
  }
}
