// Shared by the dataset generators (dataset/generate/*.ts): a seeded PRNG, weighted draws, CSV fields, xlsx files
// with pinned timestamps (byte-identical output for the same options), batched line writers, the command line
// (flags, usage, exit codes) and the entry-point check.
import { createWriteStream, realpathSync, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';

/** Fixed timestamp stamped into the xlsx metadata and zip entries so the bytes do not depend on the clock. */
export const FIXED_DATE = new Date(Date.UTC(2024, 0, 1, 0, 0, 0));

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/** mulberry32: 32-bit state, fast, good enough for synthetic data. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** FNV-1a over the label, mixed with the seed through a murmur3 finaliser. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function streamFor(seed: number, label: string): Rng {
  return new Rng(deriveSeed(seed, label));
}

/** Draws an index with probability proportional to its weight (cumulative table, binary search). */
export class WeightedIndex {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(weights: readonly number[]) {
    if (weights.length === 0) throw new Error('WeightedIndex needs at least one weight');
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    weights.forEach((w, i) => {
      if (!(w >= 0)) throw new Error(`invalid weight ${w}`);
      sum += w;
      this.cumulative[i] = sum;
    });
    if (sum <= 0) throw new Error('weights must not all be zero');
    this.total = sum;
  }

  draw(rng: Rng): number {
    const x = rng.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}


/** Quotes a CSV field only when it needs it (comma, quote, CR or LF). */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly (string | number | null | undefined)[]): string {
  return values.map(csvField).join(',');
}

/**
 * Sets every local-header and central-directory modification time of a zip archive to one fixed
 * DOS date. JSZip (used by exceljs) stamps entries with the current time, which would otherwise
 * make every xlsx differ from the last one.
 */
export function pinZipTimestamps(buf: Uint8Array, date: Date): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dosTime = (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1);
  const dosDate = ((date.getUTCFullYear() - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate();
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('xlsx: zip end-of-central-directory record not found');
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  for (let n = 0; n < entries; n++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error('xlsx: bad zip central directory entry');
    view.setUint16(p + 12, dosTime, true);
    view.setUint16(p + 14, dosDate, true);
    const local = view.getUint32(p + 42, true);
    if (view.getUint32(local, true) !== 0x04034b50) throw new Error('xlsx: bad zip local header');
    view.setUint16(local + 10, dosTime, true);
    view.setUint16(local + 12, dosDate, true);
    p += 46 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
}

/** Writes rows to a one-sheet workbook: a header row of `header` names, then `values(row)` per row; timestamps pinned. */
export async function writeXlsx<T>(file: string, sheetName: string, header: readonly string[], rows: Iterable<T>, values: (row: T) => unknown[], creator: string): Promise<void> {
  const wb = new ExcelJS.Workbook();
  wb.creator = creator;
  wb.lastModifiedBy = creator;
  wb.created = FIXED_DATE;
  wb.modified = FIXED_DATE;
  const ws = wb.addWorksheet(sheetName);
  ws.addRow([...header]);
  for (const r of rows) ws.addRow(values(r));
  const buf = new Uint8Array(await wb.xlsx.writeBuffer());
  pinZipTimestamps(buf, FIXED_DATE);
  await writeFile(file, buf);
}

/** Collects lines and writes them in joined batches, waiting for 'drain' when the stream is full. */
export class BatchedLineWriter {
  private lines: string[] = [];
  readonly stream: WriteStream;

  constructor(file: string, header: string) {
    this.stream = createWriteStream(file, { highWaterMark: 1 << 20 });
    this.lines.push(header);
  }

  push(line: string): void {
    this.lines.push(line);
  }

  get pending(): number {
    return this.lines.length;
  }

  /** Writes the batch; resolves once the stream can take more. */
  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('\n') + '\n';
    this.lines = [];
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
}

/** How a flag's value becomes an option: a non-negative integer (`_` allowed as a separator), text, or a custom parse. */
export type FlagKind = 'int' | 'text' | 'bool' | ((value: string, flag: string) => unknown);

/**
 * Parses `--flag value` and `--flag=value` by the table (flag to option key and kind; a 'bool' flag takes no value).
 * Returns 'help' for -h or --help; throws a one-line error for an unknown flag, a missing value or a bad integer.
 */
export function parseFlags<T extends object>(argv: readonly string[], table: Record<string, readonly [keyof T & string, FlagKind]>): T | 'help' {
  const opts: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const entry = Object.hasOwn(table, flag) ? table[flag] : undefined;
    if (!entry) throw new Error(`unknown argument "${arg}"`);
    const [key, kind] = entry;
    if (kind === 'bool') {
      opts[key] = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (kind === 'text') opts[key] = value;
    else if (kind === 'int') {
      const digits = value.replace(/_/g, '');
      if (!/^\d+$/.test(digits)) throw new Error(`${flag} expects a non-negative integer, got "${value}"`);
      opts[key] = Number(digits);
    } else opts[key] = kind(value, flag);
  }
  return opts as T;
}

/**
 * A generator's `main`: parses its flags (a bad one prints the error and the usage, exit 2; --help the usage,
 * exit 0), checks them (`check` returns a usage error or nothing), generates, prints what `generate` returns and
 * the time it took. Returns the exit code.
 */
export async function generatorMain<T>(
  argv: readonly string[],
  usage: string,
  parse: (argv: readonly string[]) => T | 'help',
  generate: (opts: T) => Promise<string[]>,
  check: (opts: T) => string | undefined = () => undefined,
): Promise<number> {
  let opts: T | 'help';
  try {
    opts = parse(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  const bad = check(opts);
  if (bad !== undefined) {
    process.stderr.write(`${bad}\n\n${usage}`);
    return 2;
  }
  const started = Date.now();
  for (const line of await generate(opts)) process.stdout.write(`${line}\n`);
  process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

/** True when the module at `url` (its import.meta.url) is the script node was started with. */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}
