import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { superstore } from '../../src/datasets/superstore';
import { InputError } from '../../src/errors';
import { layerAfter } from '../../src/warehouse/models';
import { refsOf } from '../../src/warehouse/sql-text';

void test('refsOf names each model a SQL text refs, once, and not those in comments or other placeholders', () => {
  const sql = [
    "-- reads {{ ref('in_a_comment') }}",
    "SELECT * FROM {{ ref('a') }} JOIN {{ ref( 'b' ) }} USING (k) JOIN {{ ref('a') }} AS again USING (k)",
    "JOIN {{ published('c') }} USING (k) JOIN {{ source('d') }} USING (k) JOIN {{ prior }} USING (k) -- {{ ref('e') }}",
  ].join('\n');
  assert.deepEqual(refsOf(sql), ['a', 'b']);
});

void test("a layer's models that read another model of the layer are built after it", async () => {
  const marts = djangoApparel.layers.find((l) => l.name === 'marts')!;
  assert.deepEqual(await layerAfter(marts), { dm_perfomance_product_by_cities: ['dm_perfomance_product_by_cities_monthly'] });
  for (const dataset of [djangoApparel, superstore]) {
    for (const layer of dataset.layers.filter((l) => l !== marts)) assert.deepEqual(await layerAfter(layer), {}, `${dataset.name} ${layer.name}`);
  }
});

void test('a model listed before a model of its layer it reads, or reading itself, is a ConfigError naming both', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gudang-layer-'));
  try {
    await mkdir(join(dir, 'm'));
    await writeFile(join(dir, 'm', 'x.sql'), "CREATE TABLE {{ this }} (k int);\nINSERT INTO {{ this }} SELECT k FROM {{ ref('y') }};\n");
    await writeFile(join(dir, 'm', 'y.sql'), "CREATE TABLE {{ this }} (k int);\nINSERT INTO {{ this }} SELECT k FROM {{ ref('y') }};\n");
    const model = (name: string) => ({ name, file: `m/${name}.sql`, table: `mart.${name}` });
    await assert.rejects(layerAfter({ name: 'marts', models: [model('x'), model('y')] }, dir), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /model x \(m\/x\.sql\) reads y of its own layer marts, which is not listed before it/);
      return true;
    });
    await assert.rejects(layerAfter({ name: 'marts', models: [model('y')] }, dir), /model y \(m\/y\.sql\) reads y of its own layer marts/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
