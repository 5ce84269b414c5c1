import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { finished } from 'node:stream/promises';

/**
 * A copy of a CSV file in which one column of every data row is quoted ("3" for 3). zod and PostgreSQL read the same
 * value, but the ingest engine's byte-level fast path vouches for quoted cells only in text columns: every row of this
 * variant is decoded by csv-parse and validated by zod. It measures the engine's slow path, the letter of "full zod
 * validation of every row". (A space-padded cell no longer does: the fast path trims as zod does.) Written once next
 * to the source data, reused afterwards.
 */
export async function zodPathVariant(srcFile: string, outDir: string, column: string): Promise<string> {
  const out = path.join(outDir, path.basename(srcFile));
  const marker = path.join(outDir, '.variant.json');
  if (existsSync(out) && existsSync(marker) && (await readFile(marker, 'utf8')).includes('quotedColumn')) return out;
  await mkdir(outDir, { recursive: true });
  const tmp = `${out}.tmp`;
  const w = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  let rest = '';
  let index = -1;
  let lines: string[] = [];
  const flush = async () => {
    if (lines.length === 0) return;
    const text = lines.join('');
    lines = [];
    if (!w.write(text)) await once(w, 'drain');
  };
  for await (const chunk of createReadStream(srcFile, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      if (index === -1) {
        index = line.split(',').indexOf(column);
        if (index === -1) throw new Error(`${srcFile}: no column ${column} in the header`);
        lines.push(`${line}\n`);
        continue;
      }
      if (line === '') continue;
      // the generated file has no quoted fields: a plain split is exact
      const cells = line.split(',');
      cells[index] = `"${cells[index]}"`;
      lines.push(`${cells.join(',')}\n`);
    }
    await flush();
  }
  if (rest !== '') lines.push(`${rest}\n`);
  await flush();
  w.end();
  await finished(w);
  await rename(tmp, out);
  await writeFile(marker, JSON.stringify({ from: srcFile, quotedColumn: column }));
  return out;
}
