import { parse } from 'csv-parse/sync';

// csv-parse, the project's CSV parser, reads every record the byte-level fast path (rows.ts) does not vouch for, and
// the header. The scanner (scan.ts) only finds where records and fields start and end; it never decodes a value.

const OPTIONS = {
  // a quote inside an unquoted field is a literal byte (as the scanner sees it); the row is rejected for it anyway
  relax_quotes: true,
  // a record with a wrong number of fields is rejected by the loader, naming both counts
  relax_column_count: true,
  // LF or CRLF, mixed within a file; a lone CR is data (the scanner flags it)
  record_delimiter: ['\r\n', '\n'],
};

/** The records in `bytes`, each as its fields' text; throws csv-parse's CsvError on what it cannot read (an unclosed quote). */
export function decodeRecords(bytes: Buffer): string[][] {
  return parse(bytes, OPTIONS) as string[][];
}

/**
 * The records of bytes known to hold `expected.length` records with those field counts (as the scanner found them).
 * Decoded in one call; when csv-parse sees the run differently (bad quoting), record by record, using `split` to cut
 * the bytes at the scanner's record bounds. A record csv-parse cannot read at all comes back as null.
 */
export function decodeRun(bytes: Buffer, expected: readonly number[], split: (i: number) => Buffer): (string[] | null)[] {
  try {
    const records = decodeRecords(bytes);
    if (records.length === expected.length && records.every((r, i) => r.length === expected[i])) return records;
  } catch {
    // one of the records is unreadable as a whole: decode them one by one below
  }
  return expected.map((_n, i) => {
    try {
      return decodeRecords(split(i))[0] ?? [''];
    } catch {
      return null;
    }
  });
}
