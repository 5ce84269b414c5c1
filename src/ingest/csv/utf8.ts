// UTF-8 checks for CSV bytes: where a file stops being valid UTF-8, and where a block ends mid-character.

/** Length of a UTF-8 sequence from its lead byte (0 for a byte that cannot start one). */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** The trailing bytes of `buf` that begin a multi-byte sequence not yet complete (at most 3 bytes). */
export function incompleteTail(buf: Buffer): Buffer {
  for (let back = 1; back <= 3 && back <= buf.length; back++) {
    const b = buf[buf.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const len = sequenceLength(b);
    return len > back ? Buffer.from(buf.subarray(buf.length - back)) : Buffer.alloc(0);
  }
  return Buffer.alloc(0);
}

/** Index of the first byte that makes `buf` invalid UTF-8; -1 if valid (an incomplete sequence at the very end counts as valid). */
export function firstInvalidUtf8(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const len = sequenceLength(b);
    if (len === 0) return i;
    // allowed range of the second byte (excludes overlongs and surrogates)
    let lo = 0x80;
    let hi = 0xbf;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f;
    else if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f;
    for (let k = 1; k < len; k++) {
      if (i + k >= buf.length) return -1;
      const c = buf[i + k]!;
      if (k === 1 ? c < lo || c > hi : (c & 0xc0) !== 0x80) return i;
    }
    i += len;
  }
  return -1;
}
