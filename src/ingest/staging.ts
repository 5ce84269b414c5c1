import type { SourceSpec } from '../sources/types';

// Staging tables are declared by the source registry, never by file content.
// Every identifier here passed defineSource's identifier check, so quoting is belt and braces.

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The schema a source's staging table lives in: its dataset's staging schema. */
export function stagingSchema(spec: SourceSpec): string {
  return spec.stagingSchema ?? 'staging';
}

export function stagingTable(spec: SourceSpec): string {
  return `${quoteIdent(stagingSchema(spec))}.${quoteIdent(spec.name)}`;
}

/** CREATE TABLE for a source's staging table: declared columns, NOT NULL where required, the primary key. */
export function stagingDDL(spec: SourceSpec): string {
  const cols = Object.entries(spec.columns).map(
    ([name, c]) => `  ${quoteIdent(name)} ${c.pgType}${c.nullable ? '' : ' NOT NULL'}`,
  );
  const pk = `  PRIMARY KEY (${spec.primaryKey.map(quoteIdent).join(', ')})`;
  return `CREATE TABLE IF NOT EXISTS ${stagingTable(spec)} (\n${[...cols, pk].join(',\n')}\n)`;
}
