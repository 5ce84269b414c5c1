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

/** Everything that makes a dataset: its sources and its SQL. A new dataset is a new one of these, not a new workflow. */
export interface DatasetSpec {
  name: string;
  description: string;
  sources: SourceSpec[];
  layers: LayerSpec[];
  /** Headline figures printed after a run (demo, `run --wait`): read-only queries over the marts. */
  headlines: { title: string; sql: string }[];
}
