import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../../src/errors';
import { BlockHasher, VerifiedReader } from '../../src/ingest/verify';

// Block hashes of a planned file, and the reader that hands out only bytes whose block matches them.

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gudang-verify-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const content = Buffer.from(Array.from({ length: 1000 }, (_v, i) => `${i},${(i * 7919) % 1000}\n`).join(''));

function blocksOf(buf: Buffer, blockBytes: number): Buffer {
  const digests: Buffer[] = [];
  for (let s = 0; s < buf.length; s += blockBytes) digests.push(createHash('sha256').update(buf.subarray(s, s + blockBytes)).digest());
  return Buffer.concat(digests);
}

void describe('block hashes and the verified reader', () => {
  void test('BlockHasher gives the sha256 of each block, however the bytes are fed', () => {
    for (const blockBytes of [1, 7, 64, 4096, 1 << 20]) {
      const hasher = new BlockHasher(blockBytes);
      for (let p = 0, step = 1; p < content.length; p += step, step = (step * 3) % 101 + 1) hasher.update(content.subarray(p, p + step));
      assert.deepEqual(hasher.digest(), blocksOf(content, blockBytes), `blocks of ${blockBytes}`);
    }
  });

  void test('ranges read at any offset and size are the file`s bytes (blocks read in place or through the window)', async () => {
    const p = path.join(dir, 'same.csv');
    await writeFile(p, content);
    for (const blockBytes of [7, 64, 1000, 1 << 20]) {
      const fh = await open(p, 'r');
      try {
        const reader = new VerifiedReader(fh, { file: 'same.csv', sizeBytes: content.length, verifyBlockBytes: blockBytes, blockSha256: blocksOf(content, blockBytes) });
        for (const [start, end, step] of [[0, content.length, 4096], [13, content.length, 100], [500, 9000, 3], [blockBytes, 2 * blockBytes + 1, 64]] as const) {
          const stop = Math.min(end, content.length);
          for (let pos = start; pos < stop; pos += step) {
            const n = Math.min(step, stop - pos);
            const out = Buffer.alloc(n + 5, 0xff);
            await reader.read(out, 5, n, pos);
            assert.ok(out.subarray(5).equals(content.subarray(pos, pos + n)), `blocks of ${blockBytes}: ${n} bytes at ${pos}`);
          }
        }
      } finally {
        await fh.close();
      }
    }
  });

  void test('a block changed since planning fails the read that reaches it, and only that one', async () => {
    const p = path.join(dir, 'changed.csv');
    const changed = Buffer.from(content);
    changed[700] = changed[700] === 0x31 ? 0x32 : 0x31; // same size
    await writeFile(p, changed);
    const fh = await open(p, 'r');
    try {
      const reader = new VerifiedReader(fh, { file: 'changed.csv', sizeBytes: content.length, verifyBlockBytes: 256, blockSha256: blocksOf(content, 256) });
      const out = Buffer.alloc(512);
      await reader.read(out, 0, 512, 0); // blocks 0 and 1: as planned
      assert.ok(out.equals(content.subarray(0, 512)));
      await assert.rejects(reader.read(out, 0, 100, 600), (err: unknown) => {
        assert.ok(err instanceof InputError);
        assert.equal(err.type, 'SourceFormatError');
        assert.match(err.message, /^changed\.csv: changed while being loaded \(its bytes 512 to 768 are not the ones planned: sha256 [0-9a-f]{64}, planned [0-9a-f]{64}\); run the load again$/);
        return true;
      });
      await assert.rejects(reader.read(out, 0, 10, 520), /changed while being loaded/); // the block was not kept
      await reader.read(out, 0, 100, 800); // block 3: as planned
      assert.ok(out.subarray(0, 100).equals(content.subarray(800, 900)));
    } finally {
      await fh.close();
    }
  });

  void test('a file shorter than planned fails the read', async () => {
    const p = path.join(dir, 'short.csv');
    await writeFile(p, content.subarray(0, 900));
    const fh = await open(p, 'r');
    try {
      const reader = new VerifiedReader(fh, { file: 'short.csv', sizeBytes: content.length, verifyBlockBytes: 256, blockSha256: blocksOf(content, 256) });
      await assert.rejects(reader.read(Buffer.alloc(200), 0, 200, 780), /^InputError: short\.csv: changed while being loaded \(it ends at byte 900, the plan has \d+ bytes\); run the load again$/);
    } finally {
      await fh.close();
    }
  });
});
