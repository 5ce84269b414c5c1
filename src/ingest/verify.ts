import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { InputError } from '../errors';

// A load reads only the bytes its plan hashed. The plan hashes the file block by block (block k: the bytes
// [k * B, (k + 1) * B)) besides whole; a chunk reads whole blocks, hashes each and compares it with the plan's digest
// before handing out any of its bytes. So content changed in place after planning (same size, same modification
// time, which the size/time check cannot see) fails the load at the first block that differs, before the batch that
// would hold those bytes commits: everything committed was read as planned.

/** Block size of the plan's block hashes (1 MiB: 32 bytes of digest per MiB of file). */
export const VERIFY_BLOCK_BYTES = 1024 * 1024;
const DIGEST_BYTES = 32;

/** sha256 of each block of a byte stream fed in order, from file offset 0. */
export class BlockHasher {
  private hash: Hash = createHash('sha256');
  private inBlock = 0;
  private readonly digests: Buffer[] = [];

  constructor(readonly blockBytes: number) {}

  update(buf: Buffer): void {
    for (let p = 0; p < buf.length; ) {
      const n = Math.min(this.blockBytes - this.inBlock, buf.length - p);
      this.hash.update(buf.subarray(p, p + n));
      this.inBlock += n;
      p += n;
      if (this.inBlock === this.blockBytes) {
        this.digests.push(this.hash.digest());
        this.hash = createHash('sha256');
        this.inBlock = 0;
      }
    }
  }

  /** The digests, 32 bytes per block (the last block may be short). */
  digest(): Buffer {
    if (this.inBlock > 0) this.digests.push(this.hash.digest());
    this.inBlock = 0;
    return Buffer.concat(this.digests);
  }
}

/** What a VerifiedReader needs of the plan. */
export interface PlannedBytes {
  file: string;
  sizeBytes: number;
  verifyBlockBytes?: number;
  blockSha256?: Buffer;
}

function changed(file: string, why: string): InputError {
  return new InputError('SourceFormatError', `${file}: changed while being loaded (${why}); run the load again`, { file });
}

/**
 * Reads byte ranges of a planned file, every byte from a block whose sha256 matched the plan's. A block only partly
 * inside a request (a chunk's first and last, a resumed checkpoint, reads smaller than a block) is read whole into a
 * window and served from there, so each block is read and hashed once per reader. Without block hashes (a plan made
 * before they existed) it reads the bytes as they are.
 */
export class VerifiedReader {
  private window: Buffer | undefined;
  private windowBlock = -1;
  /** Reads one after the other: the window is shared, and a read fills it on a libuv thread. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly fh: FileHandle,
    private readonly plan: PlannedBytes,
  ) {}

  private async readFully(out: Buffer, offset: number, length: number, position: number): Promise<void> {
    for (let got = 0; got < length; ) {
      const { bytesRead } = await this.fh.read(out, offset + got, length - got, position + got);
      if (bytesRead === 0) throw changed(this.plan.file, `it ends at byte ${position + got}, the plan has ${this.plan.sizeBytes} bytes`);
      got += bytesRead;
    }
  }

  private check(block: number, bytes: Buffer): void {
    const planned = this.plan.blockSha256!.subarray(block * DIGEST_BYTES, (block + 1) * DIGEST_BYTES);
    const actual = createHash('sha256').update(bytes).digest();
    if (planned.length !== DIGEST_BYTES || !actual.equals(planned)) {
      const start = block * this.plan.verifyBlockBytes!;
      throw changed(this.plan.file, `its bytes ${start} to ${start + bytes.length} are not the ones planned: sha256 ${actual.toString('hex')}, planned ${planned.toString('hex') || 'none'}`);
    }
  }

  /** Fills out[offset, offset + length) with the file's bytes from `position` on, each verified against the plan. */
  read(out: Buffer, offset: number, length: number, position: number): Promise<void> {
    const done = this.queue.then(() => this.readNow(out, offset, length, position));
    this.queue = done.catch(() => {});
    return done;
  }

  private async readNow(out: Buffer, offset: number, length: number, position: number): Promise<void> {
    const B = this.plan.verifyBlockBytes;
    if (!B || !this.plan.blockSha256) return this.readFully(out, offset, length, position);
    const size = this.plan.sizeBytes;
    const end = position + length;
    if (end > size) throw changed(this.plan.file, `byte ${end} asked for, the plan has ${size} bytes`);
    let pos = position;
    let o = offset;
    while (pos < end) {
      const k = Math.floor(pos / B);
      const bs = k * B;
      const be = Math.min(bs + B, size);
      if (pos === bs && be <= end) {
        // the whole block is wanted: read it in place
        await this.readFully(out, o, be - bs, bs);
        this.check(k, out.subarray(o, o + be - bs));
        o += be - bs;
        pos = be;
        continue;
      }
      if (this.windowBlock !== k) {
        this.window ??= Buffer.allocUnsafe(B);
        this.windowBlock = -1;
        await this.readFully(this.window, 0, be - bs, bs);
        this.check(k, this.window.subarray(0, be - bs));
        this.windowBlock = k;
      }
      const n = Math.min(be, end) - pos;
      this.window!.copy(out, o, pos - bs, pos - bs + n);
      o += n;
      pos += n;
    }
  }
}

/** A planned file opened for verified reads (Excel, JSON and Parquet readers given ReaderOptions.verify). */
export async function openVerified(path: string, plan: PlannedBytes): Promise<{ reader: VerifiedReader; close: () => Promise<void> }> {
  const fh = await open(path, 'r');
  return { reader: new VerifiedReader(fh, plan), close: () => fh.close() };
}

/** The bytes [start, end) of a planned file, verified, in fresh buffers of up to `pieceBytes`. */
export async function* verifiedBytes(reader: VerifiedReader, start: number, end: number, pieceBytes = 256 * 1024): AsyncGenerator<Buffer> {
  for (let pos = start; pos < end; ) {
    const n = Math.min(pieceBytes, end - pos);
    const piece = Buffer.allocUnsafe(n);
    await reader.read(piece, 0, n, pos);
    pos += n;
    yield piece;
  }
}

/**
 * Plans made before every file had block hashes: Excel, JSON, Parquet: the file hashed again once the reader reached its end,
 * before the load's last batch commits, must be the planned one. A change undone before the end is not seen.
 */
export async function assertFileAsPlanned(fh: FileHandle, plan: PlannedBytes & { sha256: string }): Promise<void> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let position = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, position);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    position += bytesRead;
  }
  const actual = hash.digest('hex');
  if (position !== plan.sizeBytes || actual !== plan.sha256) {
    throw changed(plan.file, `${position} bytes with sha256 ${actual} after reading, planned ${plan.sizeBytes} bytes with sha256 ${plan.sha256}`);
  }
}
