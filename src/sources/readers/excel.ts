import type { RawRecord, Reader, RecordStream } from '../types';
import { InputError } from '../../errors';
import { checkFile, cleanName, formatError, ioError, recordBuilder } from './common';
import type { Verified, ZipDirectory } from './excel-zip';
import { openZip, verifiedZip } from './excel-zip';

// The parts of exceljs' streaming reader we rely on. Its published typings omit `name`, `id`, `model`, ...
interface StreamCell {
  value: unknown;
  numFmt?: string;
}
interface StreamRow {
  number: number;
  eachCell(opt: { includeEmpty: boolean }, callback: (cell: StreamCell, col: number) => void): void;
}
interface StreamWorksheet {
  /** The workbook's sheetId once exceljs matched the part to the sheet list; the part number ("3" in sheet3.xml) as a string otherwise. */
  id: number | string;
  name: string;
  [Symbol.asyncIterator](): AsyncIterator<StreamRow>;
}
interface StreamWorkbook {
  model?: { sheets?: { name: string; id: number; rId: string; state?: string }[] };
  workbookRels?: { Id: string; Target: string; Type?: string }[];
  properties?: { model?: { date1904?: boolean } };
  [Symbol.asyncIterator](): AsyncIterator<StreamWorksheet>;
}

/** The part parsers of exceljs' streaming WorkbookReader (its own building blocks), driven here in a fixed order. */
interface PartParsers {
  _parseRels(entry: NodeJS.ReadableStream): Promise<void>;
  _parseWorkbook(entry: NodeJS.ReadableStream): Promise<void>;
  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncGenerator<unknown>;
  _parseStyles(entry: NodeJS.ReadableStream): Promise<void>;
  _parseWorksheet(iterator: AsyncIterable<unknown>, sheetNo: string): Generator<unknown>;
}

const READER_OPTIONS = { sharedStrings: 'cache', hyperlinks: 'ignore', styles: 'cache', worksheets: 'emit' } as const;

/** Normalises a relationship target ("worksheets/sheet1.xml", "/xl/worksheets/sheet1.xml") to "worksheets/sheet1.xml". */
function partOf(target: string): string {
  return target.replace(/^\/+/, '').replace(/^xl\//, '');
}

/** Worksheets in workbook (tab) order with their state, when exceljs has parsed workbook.xml (and its rels, to leave out chart sheets). */
function worksheetList(workbook: StreamWorkbook): { name: string; hidden: boolean }[] | undefined {
  const sheets = workbook.model?.sheets;
  if (!sheets) return undefined;
  const rels = workbook.workbookRels;
  return sheets
    .filter((s) => {
      const rel = rels?.find((r) => r.Id === s.rId);
      return !rel || partOf(rel.Target).startsWith('worksheets/');
    })
    .map((s) => ({ name: s.name, hidden: s.state === 'hidden' || s.state === 'veryHidden' }));
}


/**
 * The one sheet to read, decided from workbook.xml before any row is read: the declared sheet (it must exist once,
 * names compared as Excel does, ignoring case, and must not be hidden), else the only visible worksheet. Anything
 * else is refused, so a hidden or extra sheet is never read by mistake.
 */
function chooseSheet(workbook: StreamWorkbook, declared: string | undefined, name: string): string {
  const sheets = worksheetList(workbook);
  if (!sheets) {
    throw formatError(name, 'lists its worksheets (xl/workbook.xml) after the worksheets themselves: cannot tell which sheet to read; save it again from Excel');
  }
  const all = quoteList(sheets.map((s) => s.name));
  if (declared !== undefined) {
    const same = sheets.filter((s) => s.name.toLowerCase() === declared.toLowerCase());
    if (same.length === 0) throw formatError(name, `has no sheet named ${JSON.stringify(declared)}; its sheets are ${all}`, { sheet: declared, sheets: sheets.map((s) => s.name) });
    if (same.length > 1) throw formatError(name, `has ${same.length} sheets named ${JSON.stringify(declared)} (${quoteList(same.map((s) => s.name))}): ambiguous`, { sheet: declared });
    if (same[0]!.hidden) throw formatError(name, `sheet ${JSON.stringify(same[0]!.name)} is hidden: unhide it if it really is the data to load`, { sheet: declared });
    return same[0]!.name;
  }
  const visible = sheets.filter((s) => !s.hidden);
  if (visible.length === 1) return visible[0]!.name;
  if (visible.length === 0) throw formatError(name, `has no visible worksheet (its sheets: ${all})`);
  throw formatError(name, `has ${visible.length} visible sheets (${quoteList(visible.map((s) => s.name))}): ambiguous; name the one to read in the source's \`sheet\``, {
    sheets: visible.map((s) => s.name),
  });
}

/**
 * Wraps a worksheet part's byte stream: decodes it as UTF-8 across chunk boundaries (exceljs decodes each chunk on
 * its own, which would turn a character split between two chunks into U+FFFD) and keeps its last characters, to
 * tell afterwards whether the XML was complete.
 */
function watchedPart(part: AsyncIterable<unknown>): { chunks: AsyncGenerator<string>; complete: () => boolean } {
  let tail = '';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  async function* chunks(): AsyncGenerator<string> {
    for await (const chunk of part) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
      tail = (tail + text).slice(-256);
      if (text) yield text;
    }
    const rest = decoder.decode();
    tail = (tail + rest).slice(-256);
    if (rest) yield rest;
  }
  return { chunks: chunks(), complete: () => /<\/(?:[A-Za-z_][\w.-]*:)?worksheet>\s*$/.test(tail) };
}


/** Excel number formats that display dates or times (quoted text, [colour]/[$-locale] sections and escapes ignored). */
function isDateFormat(fmt: string | undefined): boolean {
  if (!fmt || fmt === 'General') return false;
  const bare = fmt.replace(/\[[^\]]*]/g, '').replace(/"[^"]*"/g, '').replace(/\\./g, '');
  return /[ymdhsb]/i.test(bare.replace(/General/gi, ''));
}

/** Excel serial day number -> Date (UTC), like exceljs does for plain cells. */
function serialToDate(serial: number, date1904: boolean): Date {
  const days = date1904 ? serial + 1462 : serial;
  return new Date(Math.round((days - 25569) * 86_400_000));
}

/**
 * A cell's raw value as this pipeline wants it: formulas -> their cached result (a Date when the cell has a date
 * format), rich text and hyperlinks -> plain text, dates stay Date objects, blanks -> null.
 * Error cells (#N/A, #DIV/0!, ...) stay `{ error: '#N/A' }` objects so validation rejects them with the error shown.
 */
function plainValue(value: unknown, numFmt: string | undefined, date1904: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || value instanceof Date) return value;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.richText)) {
    return (v.richText as { text?: unknown }[]).map((run) => (typeof run.text === 'string' ? run.text : '')).join('');
  }
  if ('formula' in v || 'sharedFormula' in v) {
    const result = v.result;
    if (result === undefined || result === null) return null; // never calculated: no cached result
    if (typeof result === 'number') {
      // exceljs' streaming reader parses every non-string result with parseFloat: an error result becomes NaN.
      if (Number.isNaN(result)) return { error: 'formula result is an error value' };
      return isDateFormat(numFmt) ? serialToDate(result, date1904) : result;
    }
    return plainValue(result, numFmt, date1904);
  }
  if ('hyperlink' in v && 'text' in v) return plainValue(v.text, numFmt, date1904);
  return value;
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

function columnLetter(col: number): string {
  let s = '';
  for (let n = col; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

/** A row's cells as a dense array (index 0 = column A), converted with plainValue. */
function rowCells(row: StreamRow, date1904: boolean): unknown[] {
  const cells: unknown[] = [];
  row.eachCell({ includeEmpty: false }, (cell, col) => {
    cells[col - 1] = plainValue(cell.value, cell.numFmt, date1904);
  });
  for (let i = 0; i < cells.length; i++) if (cells[i] === undefined) cells[i] = null;
  return cells;
}

function excelError(err: unknown, name: string, path: string, verified?: Verified): Error {
  const failure = verified?.failure();
  if (failure) return failure;
  if (err instanceof InputError) return err;
  const mapped = ioError(err, name, path);
  if (mapped !== err || !(err instanceof Error)) return mapped;
  return formatError(name, `is not a readable .xlsx workbook: ${err.message}`);
}

function quoteList(names: string[]): string {
  return names.length ? names.map((n) => JSON.stringify(n)).join(', ') : '(none)';
}

/**
 * Excel (.xlsx) reader over exceljs' streaming parsers: the named sheet (options.sheet) or else the only visible
 * worksheet. The header is the first row with any non-blank cell (names trimmed, trailing blank header
 * cells dropped). Fully blank rows are skipped.
 *
 * Row numbers: `row` = sheet row number - header row number. With the header in Excel row 1 (the usual case) record
 * `row` 17 is Excel row 18, whatever blank rows lie in between, so a person can find it in Excel.
 *
 * A non-blank cell to the right of the header is a SourceFormatError (a value without a column name).
 * With options.dateColumns, a plain number (1 to 2958465, i.e. up to 9999-12-31) in one of those columns is an Excel
 * serial date and becomes a Date.
 * The sheet is chosen from xl/workbook.xml before any row is read (see chooseSheet: hidden, missing or ambiguous
 * sheets are refused), and a worksheet whose XML stops before its closing tag fails the load instead of loading the
 * rows before the break. Memory: the zip is read through its directory, part by part; the worksheet is streamed and
 * parsed by exceljs' own parsers; the shared strings table is held in memory.
 */
export const readExcel: Reader = async (path, options): Promise<RecordStream> => {
  const name = options.displayName;
  await checkFile(path, name);

  const verified = options.verify?.blockSha256 ? await verifiedZip(path, options.verify) : undefined;
  const check = () => {
    const failure = verified?.failure();
    if (failure) throw failure;
  };
  let zip: ZipDirectory;
  try {
    zip = await openZip(path, name, verified);
  } catch (err) {
    await verified?.close();
    throw err;
  }
  const part = (p: string) => zip.files.find((f) => f.path === p);
  // exceljs is loaded on first use: a worker that reads no workbook does not hold it (about 27 MiB)
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.stream.xlsx.WorkbookReader(null as never, READER_OPTIONS) as unknown as StreamWorkbook & PartParsers;
  let opened: NodeJS.ReadableStream | undefined;
  let watched: ReturnType<typeof watchedPart> = { chunks: (async function* () {})(), complete: () => false };
  const release = () => {
    (opened as { destroy?: () => void } | undefined)?.destroy?.();
    void verified?.close().catch(() => {});
  };

  // The parts that describe the workbook, each read whole from the zip, in the order that makes them usable
  // (exceljs' own streaming loop takes them in file order, and races when worksheets come first).
  let target: StreamWorksheet;
  let sheetName: string;
  try {
    const rels = part('xl/_rels/workbook.xml.rels');
    const book = part('xl/workbook.xml');
    if (!rels || !book) throw formatError(name, 'is not an .xlsx workbook (no workbook or worksheets found in it)');
    await workbook._parseRels(rels.stream());
    await workbook._parseWorkbook(book.stream());
    const strings = part('xl/sharedStrings.xml');
    if (strings) for await (const _ of workbook._parseSharedStrings(strings.stream()));
    const styles = part('xl/styles.xml');
    if (styles) await workbook._parseStyles(styles.stream());
    sheetName = chooseSheet(workbook, options.sheet, name);
    const sheet = workbook.model!.sheets!.find((s) => s.name === sheetName)!;
    const rel = workbook.workbookRels?.find((r) => r.Id === sheet.rId);
    const entry = rel && part(`xl/${partOf(rel.Target)}`);
    if (!entry) throw formatError(name, `sheet ${JSON.stringify(sheetName)} has no worksheet part in the file (a damaged workbook)`, { sheet: sheetName });
    opened = entry.stream();
    watched = watchedPart(opened as unknown as AsyncIterable<unknown>);
    const emitted = workbook._parseWorksheet(watched.chunks, String(sheet.id)).next();
    target = (emitted.value as { value: StreamWorksheet }).value;
    target.name = sheetName;
    check(); // the parts parsed so far were read as planned
  } catch (err) {
    release();
    throw excelError(err, name, path, verified);
  }
  const date1904 = workbook.properties?.model?.date1904 === true;
  const rows = target[Symbol.asyncIterator]();
  let lastRow = 0;
  /** The sheet's XML ended before its closing tag: rows after the break would be lost without a word. */
  const assertComplete = () => {
    check();
    if (!watched.complete()) {
      throw formatError(name, `sheet ${JSON.stringify(sheetName)} ends early: its XML stops after sheet row ${lastRow} without closing the worksheet (a truncated or damaged workbook); nothing was loaded`, {
        sheet: sheetName,
        afterSheetRow: lastRow,
      });
    }
  };

  // Header: the first row with a non-blank cell.
  let header: string[] | undefined;
  let headerRow = 0;
  try {
    while (!header) {
      const next = await rows.next();
      if (next.done) break;
      lastRow = next.value.number;
      const cells = rowCells(next.value, date1904);
      if (cells.every(isBlank)) continue;
      let width = cells.length;
      while (width > 0 && isBlank(cells[width - 1])) width--;
      header = cells.slice(0, width).map((c) => cleanName(c instanceof Date ? c.toISOString() : c));
      headerRow = next.value.number;
    }
  } catch (err) {
    release();
    throw excelError(err, name, path, verified);
  }
  if (!header) {
    release();
    assertComplete();
    throw formatError(name, `sheet ${JSON.stringify(sheetName)} is empty: expected a header row`, { sheet: sheetName });
  }
  const width = header.length;
  const build = recordBuilder(header);
  // Date columns: a plain number there is a date typed as a serial day number (no date format on the cell).
  const wanted = new Set(options.dateColumns ?? []);
  const dateIndexes = header.flatMap((h, i) => (wanted.has(h) ? [i] : []));

  async function* records(): AsyncGenerator<RawRecord> {
    try {
      for (;;) {
        let next: IteratorResult<StreamRow>;
        try {
          next = await rows.next();
        } catch (err) {
          throw excelError(err, name, path, verified);
        }
        if (next.done) {
          assertComplete();
          return;
        }
        check();
        lastRow = next.value.number;
        const cells = rowCells(next.value, date1904);
        if (cells.every(isBlank)) continue;
        const row = next.value.number - headerRow;
        for (let i = width; i < cells.length; i++) {
          if (!isBlank(cells[i])) {
            const cell = `${columnLetter(i + 1)}${next.value.number}`;
            throw formatError(name, `row ${row} (sheet ${JSON.stringify(sheetName)} cell ${cell}) has a value in a column without a header`, {
              row,
              sheet: sheetName,
              cell,
            });
          }
        }
        if (cells.length < width) for (let i = cells.length; i < width; i++) cells[i] = null;
        for (const i of dateIndexes) {
          const v = cells[i];
          if (typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 2_958_466) cells[i] = serialToDate(v, date1904);
        }
        yield { row, values: build(cells) };
      }
    } finally {
      release();
    }
  }

  return { header, records: records() };
};
