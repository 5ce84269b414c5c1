import type { SourceSpec } from '../sources/types';

/** A model is one SQL file that (re)builds one table; its tests are annotations in the same file. */
export interface ModelSpec {
  name: string;
  /** Path relative to the repository's sql/ directory. */
  file: string;
  /** The table it builds, schema-qualified. */
  table: string;
}

export interface LayerSpec {
  name: string;
  models: ModelSpec[];
  /** Singular tests (SQL files, relative to sql/) that run after this layer: each returns the offending rows. */
  tests: string[];
}

/** The schemas a dataset owns: its staging tables, its star schema and its marts. No two datasets share one. */
export interface DatasetSchemas {
  staging: string;
  warehouse: string;
  mart: string;
}

/**
 * A foreign key between two sources of a dataset: `child.columns` hold the key (`parentColumns`, the parent's primary
 * key) of a row of `parent`. Checked when the child is published, after its parent in the same run:
 * - 'quarantine' (the child is part of its parent, as an order line of its order): a child row whose parent row was
 *   rejected in this run is quarantined too (ops.rejected_rows, its reason naming the parent's file, row and key),
 *   so facts never hold half an order;
 * - 'keep' (a reference to a dimension): such rows load and the models map them to the unknown member.
 * Either way, child rows whose parent is missing for any other reason are orphans, counted per relation in the load
 * result, ops.loads.orphans and ops.orphans (one row per missing key).
 */
export interface RelationSpec {
  child: string;
  columns: string[];
  parent: string;
  parentColumns: string[];
  onParentRejected: 'quarantine' | 'keep';
}

/** Everything that makes a dataset: its sources and its SQL. A new dataset is a new one of these, not a new workflow. */
export interface DatasetSpec {
  name: string;
  description: string;
  /** Where its tables live; ops.* is shared by every dataset and keyed by dataset name. */
  schemas: DatasetSchemas;
  sources: SourceSpec[];
  /** Foreign keys between sources (parents publish before their children in a run). */
  relations?: RelationSpec[];
  layers: LayerSpec[];
  /** The real-time stream of this dataset (src/stream/), when it has one. */
  stream?: StreamSpec;
  /** Headline figures printed after a run (demo, `run --wait`): read-only queries over the marts. */
  headlines: { title: string; sql: string }[];
  /**
   * Query (relative to sql/) that counts fact rows per loaded month, one row per month (period 'YYYY-MM', rows),
   * read with the run's parameters after a successful run to fill ops.partitions. Absent: months are not tracked.
   */
  partitionsQuery?: string;
  /**
   * Query (relative to sql/) listing data-quality findings that are not errors (e.g. a product id with several
   * names): columns finding, key, detail. Read after a completed run; the rows go to ops.findings and the summary.
   */
  findingsQuery?: string;
  /** The source folder used when none is given (demo, `run`, `schedule create`), relative to the repository root. */
  defaultSource: string;
  /** The module (relative to the repository root) that `npm run generate -- --dataset NAME` runs to make sample data. */
  generator: string;
}

/**
 * How changes captured from the source database reach the marts: the streamed sources (tables of the same name),
 * the unit a change affects (an order: every source names the column that holds its id), and the SQL that rebuilds
 * the affected units' fact rows and moves the marts (it reads the temporary table stream_affected(<unit>)).
 */
export interface StreamSpec {
  sources: string[];
  /** The unit column, e.g. 'order_id'; each streamed source must have it. */
  unit: string;
  /** SQL file (relative to sql/) run per micro-batch after staging has the changes. */
  apply: string;
  /**
   * Published tables the apply SQL finds rows of by unit (e.g. the fact): the stream keeps an index on (unit) on
   * each, and on each streamed staging table, re-creating it after a run publishes a new table.
   */
  indexed?: string[];
}
