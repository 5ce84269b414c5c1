import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { col, defineSource } from '../../src/sources/columns';
import type { SourceSpec } from '../../src/sources/types';

// The "rows that need zod" file of issue 14: the raw Superstore sample (UTF-8 with a byte-order mark, CRLF, dates
// month-first in two formats, quoted product names with commas, doubled quotes and typographic quotes) repeated to
// N lines, each with a new Row ID (the key), everything else as in the sample.

export const SUPERSTORE_SAMPLE = '/work/shared/datasets/superstore/Sample - Superstore.csv';

const date = () => col.date({ formats: ['MM-DD-YY', 'M/D/YYYY'] });

/** The raw sample's columns (staging table staging.superstore_raw): dates month-first, names as text. */
export const superstoreRaw: SourceSpec = defineSource({
  name: 'superstore_raw',
  file: 'superstore-raw.csv',
  format: 'csv',
  columns: {
    row_id: col.from('Row ID', col.int()),
    order_id: col.from('Order ID', col.text()),
    order_date: col.from('Order Date', date()),
    ship_date: col.from('Ship Date', date()),
    ship_mode: col.from('Ship Mode', col.text()),
    customer_id: col.from('Customer ID', col.text()),
    customer_name: col.from('Customer Name', col.text()),
    segment: col.from('Segment', col.text()),
    country: col.from('Country', col.text()),
    city: col.from('City', col.text()),
    state: col.from('State', col.text()),
    postal_code: col.from('Postal Code', col.optional(col.text())),
    region: col.from('Region', col.text()),
    product_id: col.from('Product ID', col.text()),
    category: col.from('Category', col.text()),
    sub_category: col.from('Sub-Category', col.text()),
    product_name: col.from('Product Name', col.text()),
    sales: col.from('Sales', col.numeric()),
    quantity: col.from('Quantity', col.int()),
    discount: col.from('Discount', col.numeric()),
    profit: col.from('Profit', col.numeric()),
  },
  primaryKey: ['row_id'],
});

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
