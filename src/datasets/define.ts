import type { DatasetSpec, LayerSpec } from './types';

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
  checkRelations(spec);
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

/** Relations name real sources and columns, a child's columns match its parent's primary key, and no cycle. */
function checkRelations(spec: DatasetSpec): void {
  const byName = new Map(spec.sources.map((s) => [s.name, s]));
  for (const r of spec.relations ?? []) {
    const what = `dataset ${spec.name}: relation ${r.child}(${r.columns.join(', ')}) -> ${r.parent}`;
    const child = byName.get(r.child);
    const parent = byName.get(r.parent);
    if (!child || !parent) throw new Error(`${what}: no source named ${!child ? r.child : r.parent}`);
    if (r.child === r.parent) throw new Error(`${what}: a source cannot be its own parent`);
    if (r.columns.length === 0 || r.columns.length !== r.parentColumns.length) throw new Error(`${what}: columns and parentColumns differ in number`);
    for (const c of r.columns) if (!Object.hasOwn(child.columns, c)) throw new Error(`${what}: ${c} is not a column of ${r.child}`);
    if (r.parentColumns.join(',') !== parent.primaryKey.join(',')) throw new Error(`${what}: parentColumns must be ${r.parent}'s primary key (${parent.primaryKey.join(', ')})`);
  }
  // parents publish first: a cycle would wait forever
  const parents = (name: string) => (spec.relations ?? []).filter((r) => r.child === name).map((r) => r.parent);
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (done.has(name)) return;
    if (visiting.has(name)) throw new Error(`dataset ${spec.name}: relations form a cycle: ${[...path, name].join(' -> ')}`);
    visiting.add(name);
    for (const p of parents(name)) visit(p, [...path, name]);
    visiting.delete(name);
    done.add(name);
  };
  for (const s of spec.sources) visit(s.name, []);
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

/**
 * Declares a dataset's layers by the SQL layout every dataset follows: model M of a layer is
 * sql/models/<dataset>/<folder>/M.sql and builds <schema>.M; singular test T is sql/models/<dataset>/tests/T.sql.
 * The folder is the layer's name unless given (a layer of its own may keep its models beside others').
 */
export function layersOf(dataset: string) {
  return (name: string, schema: string, models: string[], tests: string[] = [], folder = name): LayerSpec => ({
    name,
    models: models.map((m) => ({ name: m, file: `models/${dataset}/${folder}/${m}.sql`, table: `${schema}.${m}` })),
    tests: tests.map((t) => `models/${dataset}/tests/${t}.sql`),
  });
}
