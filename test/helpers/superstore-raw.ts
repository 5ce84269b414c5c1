import path from 'node:path';
import { col, defineSource } from '../../src/sources/columns';
import type { SourceSpec } from '../../src/sources/types';

/** The raw CSV the three Superstore workbooks were split from (UTF-8 with a byte-order mark, CRLF, 9,994 lines). */
export const SUPERSTORE_SAMPLE = path.resolve(import.meta.dirname, '../../../shared/datasets/superstore/Sample - Superstore.csv');

/**
 * That CSV as one source (the ingest test and the zod-rows benchmark load it): its columns named by their headers,
 * dates month-first in both of its formats, product names as text, keyed by Row ID.
 */
export function superstoreRawSource(name: string, file: string): SourceSpec {
  const { int, numeric, text, optional } = col;
  const date = () => col.date({ formats: ['MM-DD-YY', 'M/D/YYYY'] });
  return defineSource({
    name,
    file,
    format: 'csv',
    columns: col.headed({
      'Row ID': int(), 'Order ID': text(), 'Order Date': date(), 'Ship Date': date(), 'Ship Mode': text(), 'Customer ID': text(),
      'Customer Name': text(), Segment: text(), Country: text(), City: text(), State: text(), 'Postal Code': optional(text()),
      Region: text(), 'Product ID': text(), Category: text(), 'Sub-Category': text(), 'Product Name': text(),
      Sales: numeric(), Quantity: int(), Discount: numeric(), Profit: numeric(),
    }),
    primaryKey: ['row_id'],
  });
}
