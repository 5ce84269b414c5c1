import type { Reader, SourceFormat } from '../types';
import { readCsv } from '../../ingest/csv/reader';
import { readExcel } from './excel';
import { readJson } from './json';
import { readParquet } from './parquet';

export { readCsv, readExcel, readJson, readParquet };

const READERS: Record<SourceFormat, Reader> = {
  csv: readCsv,
  excel: readExcel,
  json: readJson,
  parquet: readParquet,
};

/** The reader for a source format. */
export function readerFor(format: SourceFormat): Reader {
  const reader = READERS[format];
  if (!reader) throw new Error(`no reader for source format ${JSON.stringify(format)}`);
  return reader;
}
