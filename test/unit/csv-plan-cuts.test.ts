import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CsvCutFinder, planCsvChunks } from '../../src/ingest/csv/plan';
import { RecordScanner } from '../../src/ingest/csv/scan';

// The planner jumps over runs of records without a quote byte with indexOf. Its cuts must be exactly those of a
// record-by-record scan with the loader's scanner: for every target offset, the first record start at or after it.

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'gudang-cuts-'))));
after(async () => rm(dir, { recursive: true, force: true }));

function referenceCuts(bytes: Buffer, dataStart: number, chunkBytes: number): number[] {
  const starts: number[] = [];
  const scanner = new RecordScanner(0);
  for (let p = dataStart; p < bytes.length; ) {
    const next = scanner.scan(bytes, p, bytes.length, true);
    if (next < 0 || next >= bytes.length) break;
    starts.push(next);
    p = next;
  }
  const cuts: number[] = [];
  for (let t = dataStart + chunkBytes; t < bytes.length; t += chunkBytes) {
    const s = starts.find((x) => x >= t);
    if (s !== undefined && (cuts.length === 0 || s > cuts[cuts.length - 1]!)) cuts.push(s);
  }
  return cuts;
}

/** Deterministic mixed records: plain, quoted with commas, doubled quotes and line breaks, stray quotes, CRLF, blank. */
function mixed(lines: number, seed: number): string {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const r = rnd();
    const eol = rnd() < 0.3 ? '\r\n' : '\n';
    if (r < 0.5) out.push(`${i},plain name ${i},${(rnd() * 100).toFixed(2)}${eol}`);
    else if (r < 0.7) out.push(`${i},"name, with comma ""${i}""",1${eol}`);
    else if (r < 0.8) out.push(`${i},"multi${eol}line${eol}field",2${eol}`);
    else if (r < 0.85) out.push(`${i},12" pizza,3${eol}`);
    else if (r < 0.9) out.push(eol);
    else if (r < 0.95) out.push(`"${i}${eol}",first field quoted,4${eol}`);
    else out.push(`${i},"a""b",${'z'.repeat(Math.floor(rnd() * 300))}${eol}`);
  }
  return out.join('');
}

test('cuts equal a record-by-record scan, with quote-free runs, quoted line breaks, stray quotes and CRLF', async () => {
  for (const seed of [1, 7, 42]) {
    const bytes = Buffer.from(`id,name,amount\n${mixed(3000, seed)}`);
    const file = path.join(dir, `mixed-${seed}.csv`);
    await writeFile(file, bytes);
    const dataStart = bytes.indexOf(10) + 1;
    for (const chunkBytes of [1, 13, 97, 1024, 50_000]) {
      const chunks = await planCsvChunks(file, bytes.length, dataStart, chunkBytes);
      const cuts = chunks.slice(1).map((c) => c.byteStart);
      assert.deepEqual(cuts, referenceCuts(bytes, dataStart, chunkBytes), `seed ${seed}, chunks of ${chunkBytes} bytes`);
    }
  }
});

test('cuts equal a record-by-record scan across the planner’s 4 MiB reads (quoted line breaks spanning a read)', async () => {
  const body = mixed(140_000, 3);
  const bytes = Buffer.from(`id,name,amount\n${body}${body}`);
  assert.ok(bytes.length > 9 * 1024 * 1024, `file of ${bytes.length} bytes spans more than two reads`);
  const file = path.join(dir, 'big.csv');
  await writeFile(file, bytes);
  const dataStart = bytes.indexOf(10) + 1;
  for (const chunkBytes of [333_333, 1024 * 1024]) {
    const chunks = await planCsvChunks(file, bytes.length, dataStart, chunkBytes);
    assert.deepEqual(chunks.slice(1).map((c) => c.byteStart), referenceCuts(bytes, dataStart, chunkBytes), `chunks of ${chunkBytes} bytes`);
  }
});

test('the finder fed the file from its first byte in parts of any size (as the plan hashes it) cuts the same', () => {
  const bytes = Buffer.from(`id,name,amount\n${mixed(4000, 11)}`);
  const dataStart = bytes.indexOf(10) + 1;
  for (const chunkBytes of [29, 4096]) {
    const expected = referenceCuts(bytes, dataStart, chunkBytes);
    for (const partBytes of [1, 7, 1000, 65_536, bytes.length]) {
      const finder = new CsvCutFinder('mixed.csv', bytes.length, dataStart, chunkBytes);
      const reused = Buffer.alloc(partBytes); // one buffer for every part, overwritten like the plan's read buffer
      for (let at = 0; at < bytes.length; at += partBytes) {
        const n = bytes.copy(reused, 0, at, Math.min(bytes.length, at + partBytes));
        finder.push(reused.subarray(0, n), at);
      }
      const chunks = finder.chunks();
      assert.deepEqual(chunks.slice(1).map((c) => c.byteStart), expected, `chunks of ${chunkBytes} bytes, parts of ${partBytes}`);
      assert.equal(chunks[0]!.byteStart, dataStart);
      assert.equal(chunks.at(-1)!.byteEnd, bytes.length);
    }
  }
});
