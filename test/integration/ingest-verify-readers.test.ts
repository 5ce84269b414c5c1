import assert from 'node:assert/strict';
import { closeSync, openSync, utimesSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import { parquetWriteFile } from 'hyparquet-writer';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { InputError } from '../../src/errors';
import { loadChunk } from '../../src/ingest/chunk';
import { planLoad } from '../../src/ingest/plan';
import type { SourceSpec } from '../../src/sources/types';
import { fileColumns } from '../../src/sources/validate';
import { migrate } from '../../src/warehouse/migrate';
import { createTestDatabase } from '../helpers/db';
import type { TestDatabase } from '../helpers/db';

// Excel, JSON and Parquet loads read their bytes through the plan's block hashes (src/ingest/verify.ts): content
// changed after planning fails the load at the read that meets it, even when it is changed back before the reader's
// end (which a whole-file hash after reading cannot see).

const products = djangoApparel.sources.find((s) => s.name === 'products')!;
const N = 60;
const names = Array.from({ length: N }, (_v, i) => `name-${String(i + 1).padStart(4, '0')}`);
const TIME = 1_700_000_000;

let db: TestDatabase;
let dir: string;
before(async () => {
  db = await createTestDatabase('gudang_verify_readers');
  await migrate(db.pool);
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-verify-readers-'));
});
after(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** products as a file of each format (uncompressed, so a product name is in the file as its bytes). */
const formats: { format: SourceSpec['format']; file: string; write: (file: string) => Promise<void> }[] = [
  {
    format: 'json',
    file: 'products.json',
    write: (file) => writeFile(file, `[${names.map((n, i) => JSON.stringify({ product_id: i + 1, product_name: n, size: 'M', price: 10, product_category_id: 1 })).join(',\n')}]`),
  },
  {
    format: 'parquet',
    file: 'products.parquet',
    write: async (file) => {
      parquetWriteFile({
        filename: file,
        codec: 'UNCOMPRESSED',
        statistics: false,
        rowGroupSize: 20,
        columnData: [
          { name: 'product_id', data: Int32Array.from(names, (_n, i) => i + 1), type: 'INT32' },
          { name: 'product_name', data: names, type: 'STRING' },
          { name: 'size', data: names.map(() => 'M'), type: 'STRING' },
          { name: 'price', data: Float64Array.from(names, () => 10), type: 'DOUBLE' },
          { name: 'product_category_id', data: Int32Array.from(names, () => 1), type: 'INT32' },
        ],
      });
      return Promise.resolve();
    },
  },
  {
    format: 'excel',
    file: 'products.xlsx',
    write: async (file) => {
      const wb = new ExcelJS.Workbook();
      const ws = wb.addWorksheet('products');
      ws.addRow(['product_id', 'product_name', 'size', 'price', 'product_category_id']);
      names.forEach((n, i) => ws.addRow([i + 1, n, 'M', 10, 1]));
      // stored, not deflated: the shared strings are in the file as written
      const zip = await JSZip.loadAsync(await wb.xlsx.writeBuffer());
      await writeFile(file, await zip.generateAsync({ type: 'nodebuffer', compression: 'STORE' }));
    },
  },
];

async function landed(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ product_name: string }>(`SELECT product_name FROM landing.${table} ORDER BY product_id`);
  return rows.map((r) => r.product_name);
}

void describe('Excel, JSON and Parquet are read through the plan`s block hashes', () => {
  for (const { format, file, write } of formats) {
    const spec: SourceSpec = { ...products, format, file };

    void test(`${format}: an unchanged file loads exactly, read in verified blocks`, async () => {
      const d = path.join(dir, `ok-${format}`);
      await mkdir(d, { recursive: true });
      await write(path.join(d, file));
      const plan = await planLoad(db.pool, spec, d, { runId: `ok-${format}`, dataset: 'django-apparel', verifyBlockBytes: 512 });
      assert.ok(plan.blockSha256 && plan.blockSha256.length === 32 * Math.ceil(plan.sizeBytes / 512), 'the plan has a hash per block');
      const r = await loadChunk(db.pool, spec, `ok-${format}`, 0, { batchMs: 0 });
      assert.deepEqual([r.rowsRead, r.rowsLoaded, r.rowsRejected], [N, N, 0]);
      assert.deepEqual(await landed(plan.landingTable), names);
    });

    void test(`${format}: bytes changed after planning and changed back before the reader's end fail the load naming the file`, async () => {
      const d = path.join(dir, `changed-${format}`);
      await mkdir(d, { recursive: true });
      const p = path.join(d, file);
      await write(p);
      utimesSync(p, TIME, TIME);
      const runId = `changed-${format}`;
      await planLoad(db.pool, spec, d, { runId, dataset: 'django-apparel', verifyBlockBytes: 512 });
      // a product name of the first row group changed in place: same size, same modification time
      const bytes = await readFile(p);
      const at = bytes.indexOf('name-0005');
      assert.ok(at > 0, 'the name is in the file as its bytes');
      const poke = (text: string) => {
        const fd = openSync(p, 'r+');
        writeSync(fd, Buffer.from(text), 0, text.length, at);
        closeSync(fd);
        utimesSync(p, TIME, TIME);
      };
      poke('name-9005');
      let restored = false;
      try {
        const load = loadChunk(db.pool, spec, runId, 0, {
          batchMs: 0, // one record a batch
          heartbeat: (b) => {
            // a batch has committed, so the reader has read the changed bytes: change them back before it reaches the end
            if (b.batches >= 1 && !restored) {
              poke('name-0005');
              restored = true;
            }
          },
        });
        await assert.rejects(load, (err: unknown) => {
          assert.ok(err instanceof InputError, String(err));
          assert.equal(err.type, 'SourceFormatError');
          const name = file.replace('.', '\\.');
          assert.match(err.message, new RegExp(`^${name}: changed while being loaded \\(its bytes \\d+ to \\d+ are not the ones planned: sha256 [0-9a-f]{64}, planned [0-9a-f]{64}\\); run the load again$`));
          return true;
        });
      } finally {
        if (!restored) poke('name-0005');
      }
      const { rows } = await db.pool.query<{ rows_read: number }>(`SELECT rows_read::int FROM ops.load_chunks WHERE run_id = $1`, [runId]);
      assert.deepEqual(rows, [{ rows_read: 0 }], 'no record of the changed file was committed');
    });
  }
});

void describe('CSV chunk boundaries are found in the bytes hashed', () => {
  const orderDetails = djangoApparel.sources.find((s) => s.name === 'order_details')!;

  void test('a change made after the hash read cannot move a cut: the cuts come from the bytes hashed, and the load of the changed chunk fails', async () => {
    const d = path.join(dir, 'csv-cuts');
    await mkdir(d, { recursive: true });
    const p = path.join(d, orderDetails.file);
    const header = fileColumns(orderDetails).map((c) => c.header).join(',');
    const data = Array.from({ length: 8000 }, (_v, i) => `${i + 1},${(i % 50) + 1},${(i % 90) + 1},${(i % 5) + 1},2019-01-0${(i % 9) + 1},${(i % 7) + 1}00`);
    await writeFile(p, `${header}\n${data.join('\n')}\n`);
    utimesSync(p, TIME, TIME);
    const options = { dataset: 'django-apparel', chunkBytes: 32 * 1024, verifyBlockBytes: 4096 };
    const unchanged = await planLoad(db.pool, orderDetails, d, { ...options, runId: 'csv-cuts-unchanged' });
    assert.ok(unchanged.chunks.length > 3);
    const target = header.length + 1 + 32 * 1024; // the first chunk target
    const bytes = await readFile(p);
    let at = target;
    while (!/[0-9]/.test(String.fromCharCode(bytes[at]!))) at++;
    const poke = (b: number) => {
      const fd = openSync(p, 'r+');
      writeSync(fd, Buffer.from([b]), 0, 1, at);
      closeSync(fd);
      utimesSync(p, TIME, TIME);
    };
    let poked = false;
    try {
      const plan = await planLoad(db.pool, orderDetails, d, {
        ...options,
        runId: 'csv-cuts',
        heartbeat: (h) => {
          // hashed whole: a line end appears where a digit was (same size, same mtime), next to the first cut
          if (h.hashedBytes === h.sizeBytes && Number(h.sizeBytes) > 0 && !poked) {
            poke(0x0a);
            poked = true;
          }
        },
      });
      assert.ok(poked, 'the file was changed after it was hashed');
      assert.deepEqual(plan.chunks, unchanged.chunks, 'the cuts are those of the bytes hashed');
      const k = plan.chunks.findIndex((c) => c.byteStart <= at && at < c.byteEnd);
      await assert.rejects(loadChunk(db.pool, orderDetails, 'csv-cuts', k, { batchMs: 0 }), (err: unknown) => {
        assert.ok(err instanceof InputError, String(err));
        assert.equal(err.type, 'SourceFormatError');
        assert.match(err.message, /^order_details\.csv: changed while being loaded \(its bytes \d+ to \d+ are not the ones planned: sha256 [0-9a-f]{64}, planned [0-9a-f]{64}\); run the load again$/);
        return true;
      });
    } finally {
      if (poked) poke(bytes[at]!);
    }
  });
});
