import { createReadStream } from 'node:fs';
import type { RawRecord, Reader, RecordStream } from '../types';
import { firstInvalidUtf8, incompleteTail } from '../../ingest/csv/utf8';
import { checkFile, cleanName, decodeUtf8KeepingBadBytes, formatError, ioError, setOwn } from './common';
import { quoteLongNumbers } from './json-numbers';
import type { PlannedBytes } from '../../ingest/verify';
import { openVerified, verifiedBytes } from '../../ingest/verify';

/** One complete JSON value cut out of the text, with where it starts (1-based line and column). */
interface JsonSlice {
  text: string;
  line: number;
  column: number;
}

/**
 * Decodes the file as UTF-8 chunk by chunk (a BOM is dropped). A byte that is not UTF-8 is kept as a lone surrogate
 * (decodeUtf8KeepingBadBytes): inside a string value, that value's row is rejected naming the byte; anywhere else the
 * JSON is malformed there and the file fails naming the line and column.
 */
async function* textChunks(path: string, name: string, verify: PlannedBytes | undefined): AsyncGenerator<string> {
  // a load reads the planned bytes, each block checked against the plan's hash before it is parsed
  const verified = verify?.blockSha256 ? await openVerified(path, verify).catch((err: unknown) => { throw ioError(err, name, path); }) : undefined;
  const stream = verified ? undefined : createReadStream(path, { highWaterMark: 256 * 1024 });
  const pieces = (verified ? verifiedBytes(verified.reader, 0, verify!.sizeBytes) : stream!) as AsyncIterable<Buffer>;
  let carry: Buffer = Buffer.alloc(0);
  let first = true;
  try {
    for await (const piece of pieces) {
      const buf = carry.length ? Buffer.concat([carry, piece]) : piece;
      carry = incompleteTail(buf);
      let text = decodeUtf8KeepingBadBytes(buf.subarray(0, buf.length - carry.length), firstInvalidUtf8);
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text) first = false;
      if (text) yield text;
    }
    if (carry.length) yield decodeUtf8KeepingBadBytes(carry, firstInvalidUtf8);
  } catch (err) {
    throw ioError(err, name, path);
  } finally {
    stream?.destroy();
    await verified?.close();
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Deeper nesting than this is refused while splitting (records are flat; JSON.parse would overflow the stack on deep input). */
export const MAX_JSON_DEPTH = 64;

function scalarKind(c: number): string | undefined {
  if (c === 0x22) return 'a string';
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return 'a number';
  if (c === 0x74 || c === 0x66) return 'a boolean';
  if (c === 0x6e) return 'null';
  return undefined;
}

/**
 * Cuts a stream of JSON text into complete values without parsing them, so memory is bounded by one value:
 * - `array` mode (the text starts with `[`): yields the elements of the top-level array;
 * - `sequence` mode (anything else): yields the top-level values one after the other (NDJSON, or one single value).
 * Every value must be an object or array (records are objects; a scalar is reported at once). Only strings and
 * bracket depth are tracked here; JSON.parse validates each value and reports exact positions.
 */
class JsonSplitter {
  mode: 'array' | 'sequence' | undefined;
  private line = 1;
  private lineStart = 0; // absolute offset of the current line's first character
  private offset = 0; // absolute offset of the current chunk's first character
  private count = 0; // values yielded so far

  constructor(private readonly name: string) {}

  private fail(abs: number, message: string, details: Record<string, unknown> = {}) {
    const column = abs - this.lineStart + 1;
    return formatError(this.name, `${message} (line ${this.line} column ${column})`, { line: this.line, column, ...details });
  }

  async *values(chunks: AsyncIterable<string>): AsyncGenerator<JsonSlice> {
    // between values, in array mode: what may come next
    let expect: 'element-or-end' | 'comma-or-end' | 'element' | 'nothing' = 'element-or-end';
    let inValue = false;
    let depth = 0;
    // open containers of the current value ({ or [), the keys seen in each open object, and where a key being read starts
    let containers: number[] = [];
    let keys: Set<string>[] = [];
    let expectKey = false;
    let keyStart = -1;
    let keyParts: string[] = [];
    let inString = false;
    let escaped = false;
    let parts: string[] = [];
    let startLine = 0;
    let startColumn = 0;

    for await (const chunk of chunks) {
      let from = 0;
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk.charCodeAt(i);
        const abs = this.offset + i;
        if (c === 0x0a) {
          this.line++;
          this.lineStart = abs + 1;
        }
        if (inValue) {
          if (inString) {
            if (escaped) escaped = false;
            else if (c === 0x5c) escaped = true;
            else if (c === 0x22) {
              inString = false;
              if (keyStart >= 0 || keyParts.length > 0) {
                // a key of the innermost object: a repeated one would silently keep only its last value
                keyParts.push(chunk.slice(Math.max(keyStart, 0), i));
                const key = keyParts.join('');
                keyParts = [];
                keyStart = -1;
                const seen = keys[keys.length - 1]!;
                if (seen.has(key)) throw this.fail(abs, `has the key "${key.length > 60 ? `${key.slice(0, 57)}...` : key}" twice in one object (only its last value would be kept)`, { key });
                seen.add(key);
              }
            }
          } else if (c === 0x22) {
            inString = true;
            if (expectKey) {
              keyStart = i + 1;
              expectKey = false;
            }
          } else if (c === 0x7b || c === 0x5b) {
            depth++;
            if (depth > MAX_JSON_DEPTH) throw this.fail(abs, `is nested more than ${MAX_JSON_DEPTH} levels deep: not a table of records`);
            containers.push(c);
            if (c === 0x7b) {
              keys.push(new Set());
              expectKey = true;
            }
          } else if (c === 0x2c) {
            expectKey = containers[containers.length - 1] === 0x7b;
          } else if ((c === 0x7d || c === 0x5d) && (containers.pop() === 0x7b ? keys.pop() : undefined, expectKey = false, --depth === 0)) {
            parts.push(chunk.slice(from, i + 1));
            const text = parts.length === 1 ? parts[0]! : parts.join('');
            parts = [];
            inValue = false;
            this.count++;
            if (this.mode === 'array') expect = 'comma-or-end';
            yield { text, line: startLine, column: startColumn };
          }
          continue;
        }
        if (WS.has(c)) continue;
        const ch = chunk[i]!;
        if (this.mode === undefined) {
          this.mode = c === 0x5b ? 'array' : 'sequence';
          if (this.mode === 'array') continue;
        }
        if (this.mode === 'array') {
          if (expect === 'comma-or-end' && c === 0x2c) {
            expect = 'element';
            continue;
          }
          if ((expect === 'comma-or-end' || expect === 'element-or-end') && c === 0x5d) {
            expect = 'nothing';
            continue;
          }
          if (expect === 'comma-or-end') throw this.fail(abs, `is not valid JSON: unexpected ${JSON.stringify(ch)}, expected "," or "]"`);
          if (expect === 'nothing') throw this.fail(abs, `is not valid JSON: unexpected ${JSON.stringify(ch)} after the closing "]"`);
        }
        if (c !== 0x7b && c !== 0x5b) {
          const kind = scalarKind(c);
          const row = this.count + 1;
          if (kind) {
            throw this.fail(abs, `row ${row} is ${kind}, not a JSON object (expected an array of records, one object per line, or a pandas "columns" object)`, { row });
          }
          throw this.fail(abs, `is not valid JSON: unexpected ${JSON.stringify(ch)}`);
        }
        // an object or array starts here
        inValue = true;
        from = i;
        depth = 1;
        containers = [c];
        keys = c === 0x7b ? [new Set()] : [];
        expectKey = c === 0x7b;
        inString = false;
        escaped = false;
        startLine = this.line;
        startColumn = abs - this.lineStart + 1;
      }
      if (inValue) parts.push(chunk.slice(from));
      if (inString && keyStart >= 0) {
        keyParts.push(chunk.slice(keyStart));
        keyStart = 0;
      }
      this.offset += chunk.length;
    }
    if (inValue) {
      throw formatError(this.name, `is not valid JSON: the file ends inside the value that starts at line ${startLine} column ${startColumn}`, {
        line: startLine,
        column: startColumn,
      });
    }
    if (this.mode === 'array' && expect !== 'nothing') {
      throw this.fail(this.offset, 'is not valid JSON: the file ends before the closing "]" of the top-level array');
    }
  }
}

/** JSON.parse with errors turned into SourceFormatError naming the file, line and column. */
function parseSlice(slice: JsonSlice, name: string): unknown {
  const exact = quoteLongNumbers(slice.text);
  if (exact !== slice.text) {
    try {
      return JSON.parse(exact);
    } catch {
      // malformed: the original text's error names the right column
    }
  }
  try {
    return JSON.parse(slice.text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /at position (\d+)/.exec(message);
    let line = slice.line;
    let column = slice.column;
    if (m) {
      const pos = Math.min(Number(m[1]), slice.text.length);
      for (let i = 0; i < pos; i++) {
        if (slice.text.charCodeAt(i) === 0x0a) {
          line++;
          column = 1;
        } else column++;
      }
    }
    const reason = message
      .replace(/\s*in JSON at position \d+.*$/s, '')
      .replace(/^(Unexpected token .*?), .* is not valid JSON$/s, '$1') // drop V8's quote of the text
      .replace(/\s*\(line \d+ column \d+\)$/, '');
    const short = reason.length > 160 ? `${reason.slice(0, 157)}...` : reason;
    const where = m ? `at line ${line} column ${column}` : `in the value that starts at line ${line} column ${column}`;
    throw formatError(name, `is not valid JSON ${where}: ${short}`, { line, column });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Index labels of a pandas "columns" object: the union over all columns, in numeric order when they are all integers. */
function indexLabels(columns: Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const column of columns) for (const key of Object.keys(column)) seen.add(key);
  const labels = [...seen];
  if (labels.every((k) => /^-?\d+$/.test(k))) {
    labels.sort((a, b) => {
      const x = BigInt(a);
      const y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
  return labels;
}

/**
 * JSON reader. Shapes, detected from the content:
 * (a) pandas "columns" orientation, `{"col": {"0": v, "1": v, ...}, ...}` (DataFrame.to_json default): a single object
 *     whose every value is an object. This orientation cannot be streamed (a row needs every column), so the whole
 *     file is parsed at once. Rows are ordered by index label (numeric order when all labels are integers); `row` is the
 *     1-based position in that order; a label missing from a column gives null.
 * (b) an array of records, `[{...}, {...}]`: streamed element by element.
 * (c) NDJSON, one object per line (or any whitespace-separated objects): streamed value by value.
 * For (b) and (c) the header is the first record's keys; a key missing from a later record gives null, a key the first
 * record lacks is a SourceFormatError. A number of more than 15 significant digits is read as its text (quoteLongNumbers),
 * never rounded through a JavaScript number.
 */
export const readJson: Reader = async (path, options): Promise<RecordStream> => {
  const name = options.displayName;
  await checkFile(path, name);

  const splitter = new JsonSplitter(name);
  const slices = splitter.values(textChunks(path, name, options.verify));
  const release = () => void slices.return(undefined).catch(() => {});

  try {
    const first = await slices.next();
    if (first.done) {
      if (splitter.mode === 'array') throw formatError(name, 'contains an empty array: no records (and no column names)');
      throw formatError(name, 'is empty: expected JSON records');
    }
    const firstValue = parseSlice(first.value, name);
    const firstLine = first.value.line;

    if (splitter.mode === 'sequence') {
      const second = await slices.next();
      if (second.done && isPlainObject(firstValue) && Object.keys(firstValue).length > 0 && Object.values(firstValue).every(isPlainObject)) {
        return pandasColumns(firstValue as Record<string, Record<string, unknown>>);
      }
      const pending: JsonSlice[] = second.done ? [] : [second.value];
      return recordsStream(name, firstValue, firstLine, pending, slices, release);
    }
    return recordsStream(name, firstValue, firstLine, [], slices, release);
  } catch (err) {
    release();
    throw err;
  }
};

function pandasColumns(data: Record<string, Record<string, unknown>>): RecordStream {
  const header = Object.keys(data).map(cleanName);
  const columns = Object.values(data);
  const labels = indexLabels(columns);
  async function* records(): AsyncGenerator<RawRecord> {
    for (let r = 0; r < labels.length; r++) {
      const label = labels[r]!;
      const values: Record<string, unknown> = {};
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c]!;
        setOwn(values, header[c]!, Object.hasOwn(column, label) ? column[label] : null);
      }
      yield { row: r + 1, values };
    }
  }
  return { header, records: records() };
}

function recordsStream(
  name: string,
  firstValue: unknown,
  firstLine: number,
  pending: JsonSlice[],
  slices: AsyncGenerator<JsonSlice>,
  release: () => void,
): RecordStream {
  if (!isPlainObject(firstValue)) throw notAnObject(name, 1, firstValue);
  const keys = Object.keys(firstValue);
  const header = keys.map(cleanName);
  const known = new Set(keys);

  const toRecord = (value: unknown, row: number, line: number): RawRecord => {
    if (!isPlainObject(value)) throw notAnObject(name, row, value);
    const values: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      setOwn(values, header[i]!, Object.hasOwn(value, key) ? value[key] : null);
    }
    for (const key of Object.keys(value)) {
      if (!known.has(key)) {
        throw formatError(name, `row ${row} has key ${JSON.stringify(key)} that the first record does not have (the first record defines the columns)`, {
          row,
          key,
        });
      }
    }
    return { row, line, values };
  };

  async function* records(): AsyncGenerator<RawRecord> {
    try {
      let row = 1;
      yield toRecord(firstValue, row, firstLine);
      for (const slice of pending) yield toRecord(parseSlice(slice, name), ++row, slice.line);
      for (;;) {
        const next = await slices.next();
        if (next.done) return;
        yield toRecord(parseSlice(next.value, name), ++row, next.value.line);
      }
    } finally {
      release();
    }
  }
  return { header, records: records() };
}

function notAnObject(name: string, row: number, value: unknown) {
  const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
  return formatError(name, `row ${row} is ${kind}, not a JSON object (expected an array of records, one object per line, or a pandas "columns" object)`, {
    row,
  });
}
