import assert from 'node:assert/strict';
import type pg from 'pg';
import { djangoApparel } from '../../src/datasets/django-apparel';
import type { LayerSpec } from '../../src/datasets/types';
import { InputError } from '../../src/errors';
import { runLayerGates } from '../../src/warehouse/gates';
import { runModel } from '../../src/warehouse/models';

// The small hand-written Django Apparel staging data ("given") that warehouse.test.ts and gates.test.ts build the
// warehouse from, and the helpers both use: load it, build every layer with its gate, expect a gate to fail.

export const layers = djangoApparel.layers;
export const layer = (name: string): LayerSpec => {
  const found = layers.find((l) => l.name === name);
  assert.ok(found, `layer ${name}`);
  return found;
};

// ------------------------------------------------------------------ given
export const given: Record<string, unknown[][]> = {
  product_categories: [
    [1, 'Hoodies'],
    [2, 'Jeans'],
  ],
  // products 1 and 2 share a name and differ by size
  products: [
    [1, 'Hoodie Black', 'M', 100, 1],
    [2, 'Hoodie Black', 'L', 110, 1],
    [3, 'Jeans Blue', '32', 200, 2],
  ],
  customers: [
    [1, 'Ani', 'Wijaya', 'Female'],
    [2, 'Budi', null, 'Male'],
    [3, 'Citra', 'Lestari', null],
  ],
  provinces: [
    [10, 'Jawa Barat'],
    [20, 'Bali'],
  ],
  cities: [
    [100, 'Bandung', 10],
    [101, 'Bogor', 10],
    [200, 'Denpasar', 20],
  ],
  // January and February of two years; order 6's customer and order 7's city are missing from staging
  orders: [
    [1, '2022-01-05 10:00:00', 1, 10, 100],
    [2, '2022-01-20 08:30:00', 2, 10, 101],
    [3, '2022-02-14 12:00:00', 1, 10, 100],
    [4, '2023-01-03 09:00:00', 3, 20, 200],
    [5, '2023-02-28 23:59:00', 2, 10, 100],
    [6, '2023-02-01 00:00:00', 99, 10, 100],
    [7, '2022-01-31 23:30:00', 3, 10, 999],
  ],
  // line 1005 references product 99, missing from staging
  order_details: [
    [1001, 1, 1, 2, 100, 200],
    [1002, 1, 3, 1, 200, 200],
    [1003, 2, 2, 1, 110, 110],
    [1004, 3, 1, 1, 100, 100],
    [1005, 3, 99, 3, 50, 150],
    [1006, 4, 3, 2, 200, 400],
    [1007, 5, 2, 1, 110, 110],
    [1008, 5, 1, 1, 100, 100],
    [1009, 6, 3, 1, 199.99, 199.99],
    [1010, 7, 1, 1, 100, 100],
  ],
};

export async function insertGiven(pool: pg.Pool, source: string, rows: unknown[][]): Promise<void> {
  const spec = djangoApparel.sources.find((s) => s.name === source);
  assert.ok(spec, `source ${source}`);
  const cols = Object.keys(spec.columns);
  for (const row of rows) {
    const params = row.map((_, i) => `$${i + 1}`).join(', ');
    await pool.query(`INSERT INTO staging.${source} (${cols.join(', ')}) VALUES (${params})`, row);
  }
}

export async function buildAll(pool: pg.Pool): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const l of layers) {
    for (const model of l.models) {
      const result = await runModel(pool, djangoApparel, model, { publish: true });
      assert.equal(result.model, model.name);
      assert.equal(result.table, model.table);
      counts.set(model.table, result.rows);
    }
    const gate = await runLayerGates(pool, djangoApparel, l);
    assert.equal(gate.layer, l.name);
    assert.ok(gate.checks.length > 0, `layer ${l.name} has checks`);
    for (const check of gate.checks) assert.ok(check.passed, `${check.check} on ${check.table}`);
  }
  return counts;
}

export async function expectGateFailure(pool: pg.Pool, layerName: string, ...fragments: string[]): Promise<InputError> {
  let caught: unknown;
  try {
    await runLayerGates(pool, djangoApparel, layer(layerName));
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof InputError, `expected InputError, got ${String(caught)}`);
  assert.equal(caught.type, 'QualityGateFailed');
  if (process.env.GUDANG_TEST_VERBOSE) console.log(caught.message);
  for (const fragment of fragments) assert.ok(caught.message.includes(fragment), `message lacks ${JSON.stringify(fragment)}:\n${caught.message}`);
  return caught;
}
