import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { SourceSpec } from '../../src/sources/types';
import { SUPERSTORE_SAMPLE, superstoreRawSource } from '../../test/helpers/superstore-raw';

// The "rows that need zod" file of issue 14: the raw Superstore sample (UTF-8 with a byte-order mark, CRLF, dates
// month-first in two formats, quoted product names with commas, doubled quotes and typographic quotes) repeated to
// N lines, each with a new Row ID (the key), everything else as in the sample.

export { SUPERSTORE_SAMPLE };

/** The raw sample's columns (staging table staging.superstore_raw): dates month-first, names as text. */
export const superstoreRaw: SourceSpec = superstoreRawSource('superstore_raw', 'superstore-raw.csv');

/** Writes `lines` data lines into outDir/superstore-raw.csv once (marked by .superstore.json); returns the file. */
export async function superstoreShapedCsv(outDir: string, lines: number, sample = SUPERSTORE_SAMPLE): Promise<string> {
  const out = path.join(outDir, superstoreRaw.file);
  const marker = path.join(outDir, '.superstore.json');
  if (existsSync(out) && existsSync(marker)) return out;
  await mkdir(outDir, { recursive: true });
  const text = await readFile(sample, 'utf8'); // the BOM stays: readFile keeps U+FEFF
  const all = text.split('\r\n');
  const header = all[0]!;
  const rows = all.slice(1).filter((l) => l !== '').map((l) => l.slice(l.indexOf(',')));
  const tmp = `${out}.tmp`;
  const w = createWriteStream(tmp);
  let buf = `${header}\r\n`;
  for (let i = 0; i < lines; i++) {
    buf += `${i + 1}${rows[i % rows.length]}\r\n`;
    if (buf.length > 1 << 20) {
      if (!w.write(buf)) await once(w, 'drain');
      buf = '';
    }
  }
  w.end(buf);
  await finished(w);
  await rename(tmp, out);
  await writeFile(marker, JSON.stringify({ from: sample, lines }));
  return out;
}
