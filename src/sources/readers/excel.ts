import { createReadStream } from 'node:fs';
import ExcelJS from 'exceljs';
import type { RawRecord, Reader, RecordStream } from '../types';
import { checkFile, cleanName, formatError, ioError, recordBuilder } from './common';

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
  /** The worksheet part: a file stream when exceljs buffered the part to a temp file, an async generator otherwise. */
  iterator?: unknown;
  [Symbol.asyncIterator](): AsyncIterator<StreamRow>;
}
interface StreamWorkbook {
  model?: { sheets?: { name: string; id: number; rId: string; state?: string }[] };
  workbookRels?: { Id: string; Target: string; Type?: string }[];
  properties?: { model?: { date1904?: boolean } };
  [Symbol.asyncIterator](): AsyncIterator<StreamWorksheet>;
}

const READER_OPTIONS = { sharedStrings: 'cache', hyperlinks: 'ignore', styles: 'cache', worksheets: 'emit' } as const;

/** Normalises a relationship target ("worksheets/sheet1.xml", "/xl/worksheets/sheet1.xml") to "worksheets/sheet1.xml". */
function partOf(target: string): string {
  return target.replace(/^\/+/, '').replace(/^xl\//, '');
}

/** Worksheet names in workbook (tab) order, when exceljs has parsed workbook.xml (and its rels, to leave out chart sheets). */
function worksheetNames(workbook: StreamWorkbook): string[] | undefined {
  const sheets = workbook.model?.sheets;
  if (!sheets) return undefined;
  const rels = workbook.workbookRels;
  if (!rels) return sheets.map((s) => s.name);
  return sheets
    .filter((s) => {
      const rel = rels.find((r) => r.Id === s.rId);
      return !rel || partOf(rel.Target).startsWith('worksheets/');
    })
    .map((s) => s.name);
}

/**
 * The sheet's name. exceljs maps the part (xl/worksheets/sheetN.xml) to its name through the workbook rels, but only
 * for targets written exactly as "worksheets/sheetN.xml"; otherwise it leaves the placeholder "SheetN" and the part
 * number as a string id. Resolve those cases ourselves with normalised targets.
 */
function sheetNameOf(workbook: StreamWorkbook, ws: StreamWorksheet): string {
  if (typeof ws.id !== 'string') return ws.name;
  const part = `worksheets/sheet${ws.id}.xml`;
  const rel = workbook.workbookRels?.find((r) => partOf(r.Target) === part);
  const sheet = rel && workbook.model?.sheets?.find((s) => s.rId === rel.Id);
  return sheet ? sheet.name : ws.name;
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

function excelError(err: unknown, name: string, path: string): Error {
  const mapped = ioError(err, name, path);
  if (mapped !== err || !(err instanceof Error)) return mapped;
  return formatError(name, `is not a readable .xlsx workbook: ${err.message}`);
}

function quoteList(names: string[]): string {
  return names.length ? names.map((n) => JSON.stringify(n)).join(', ') : '(none)';
}

/**
 * Excel (.xlsx) reader over exceljs' streaming WorkbookReader: the named sheet (options.sheet) or else the first
 * worksheet in tab order. The header is the first row with any non-blank cell (names trimmed, trailing blank header
 * cells dropped). Fully blank rows are skipped.
 *
 * Row numbers: `row` = sheet row number - header row number. With the header in Excel row 1 (the usual case) record
 * `row` 17 is Excel row 18, whatever blank rows lie in between, so a person can find it in Excel.
 *
 * A non-blank cell to the right of the header is a SourceFormatError (a value without a column name).
 * With options.dateColumns, a plain number (1 to 2958465, i.e. up to 9999-12-31) in one of those columns is an Excel
 * serial date and becomes a Date.
 * Memory: exceljs streams the zip; worksheet parts that come before sharedStrings.xml or workbook.xml in the zip are
 * spooled to a temp file (disk, not memory) and parsed afterwards; the shared strings table is held in memory.
 */
export const readExcel: Reader = async (path, options): Promise<RecordStream> => {
  const name = options.displayName;
  await checkFile(path, name);

  const input = createReadStream(path);
  const workbook = new ExcelJS.stream.xlsx.WorkbookReader(input, READER_OPTIONS) as unknown as StreamWorkbook;
  const sheets = workbook[Symbol.asyncIterator]();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    input.destroy();
    void sheets.return?.(undefined)?.catch(() => {});
  };

  // Find the sheet.
  const seen: string[] = [];
  let target: StreamWorksheet | undefined;
  try {
    for (;;) {
      const next = await sheets.next();
      if (next.done) break;
      const ws = next.value;
      const wsName = sheetNameOf(workbook, ws);
      seen.push(wsName);
      const wanted = options.sheet ?? worksheetNames(workbook)?.[0] ?? wsName;
      if (wsName === wanted) {
        target = ws;
        break;
      }
      // Not ours: close a spooled temp-file stream exceljs opened for it (a zip entry is drained by exceljs itself).
      const part = ws.iterator as { destroy?: () => void } | undefined;
      if (part && typeof part.destroy === 'function') part.destroy();
    }
  } catch (err) {
    release();
    throw excelError(err, name, path);
  }
  if (!target) {
    release();
    const names = worksheetNames(workbook) ?? seen;
    if (!workbook.model && seen.length === 0) throw formatError(name, 'is not an .xlsx workbook (no workbook or worksheets found in it)');
    if (options.sheet !== undefined) {
      throw formatError(name, `has no sheet named ${JSON.stringify(options.sheet)}; its sheets are ${quoteList(names)}`, {
        sheet: options.sheet,
        sheets: names,
      });
    }
    throw formatError(name, 'has no worksheets', { sheets: names });
  }
  const sheetName = sheetNameOf(workbook, target);
  const date1904 = workbook.properties?.model?.date1904 === true;
  const rows = target[Symbol.asyncIterator]();

  // Header: the first row with a non-blank cell.
  let header: string[] | undefined;
  let headerRow = 0;
  try {
    while (!header) {
      const next = await rows.next();
      if (next.done) break;
      const cells = rowCells(next.value, date1904);
      if (cells.every(isBlank)) continue;
      let width = cells.length;
      while (width > 0 && isBlank(cells[width - 1])) width--;
      header = cells.slice(0, width).map((c) => cleanName(c instanceof Date ? c.toISOString() : c));
      headerRow = next.value.number;
    }
  } catch (err) {
    release();
    throw excelError(err, name, path);
  }
  if (!header) {
    release();
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
          throw excelError(err, name, path);
        }
        if (next.done) return;
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
