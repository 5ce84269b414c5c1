import type { DatasetSpec } from '../datasets';
import type { Pool } from '../db';
import { table } from './format';

/** Prints the dataset's headline queries over its marts. */
export async function formatHeadlines(pool: Pool, dataset: DatasetSpec): Promise<string> {
  const out: string[] = [];
  for (const h of dataset.headlines) {
    const { rows } = await pool.query(h.sql);
    out.push(`${h.title}\n${table(rows)}`);
  }
  return out.join('\n\n');
}
