import type { ColumnKind, SourceSpec } from '../../sources/types';
import { fileColumns } from '../../sources/validate';
import type { DateMatcher } from './fast-validate';
import { KIND_CODE, compileDateFormat } from './fast-validate';

/** How the columns of one file line up with the source: built once per load, after the header check. */
export interface CsvLayout {
  spec: SourceSpec;
  displayName: string;
  /** Header names in file order. */
  header: string[];
  /** Staging column names in file order (the COPY column list). */
  names: string[];
  kinds: (ColumnKind | undefined)[];
  codes: Uint8Array;
  nullable: Uint8Array;
  /** Date columns with text formats: their compiled matchers, in zod's order (undefined: that format is zod's alone). */
  dateFormats: (DateMatcher[] | undefined)[];
}

/** Lines the file's header (already checked against the source) up with the source's columns. */
export function csvLayout(spec: SourceSpec, header: string[], displayName: string): CsvLayout {
  const byHeader = new Map(fileColumns(spec).map((c) => [c.header, c.name]));
  const names = header.map((h) => {
    const name = byHeader.get(h);
    if (name === undefined) throw new Error(`header ${JSON.stringify(h)} does not belong to source ${spec.name} (checkHeader first)`);
    return name;
  });
  const kinds = names.map((n) => spec.columns[n]!.kind);
  return {
    spec,
    displayName,
    header,
    names,
    kinds,
    codes: Uint8Array.from(kinds.map((k) => KIND_CODE[k ?? 'custom'])),
    nullable: Uint8Array.from(names.map((n) => (spec.columns[n]!.nullable ? 1 : 0))),
    dateFormats: names.map((n) => spec.columns[n]!.dateFormats?.map(compileDateFormat)),
  };
}
