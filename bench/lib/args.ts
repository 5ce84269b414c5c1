export type Part = 'ingest' | 'transform' | 'e2e' | 'fanout' | 'dashboard' | 'workers' | 'source-db' | 'superstore' | 'zod-rows' | 'stream' | 'backup';
export const ALL_PARTS: readonly Part[] = ['ingest', 'transform', 'e2e', 'fanout', 'dashboard', 'workers', 'source-db', 'superstore', 'zod-rows', 'stream', 'backup'];

export interface BenchOptions {
  orderLines: number;
  repeats: number;
  /** Repeats of the pandas method; default = repeats up to 2M lines, else 1 (it takes ~10 min per run at 10M). */
  pandasRepeats: number;
  dataDir?: string;
  seed: number;
  skipPandas: boolean;
  /** Also measure the engine's Zod path (a variant of the file whose rows the fast path declines). */
  zodVariant: boolean;
  parts: Part[];
  /** Fan-out sweep (chunks x concurrency) of the ingest engine. */
  chunks: boolean;
  keep: boolean;
  /** End to end with workflows and activities in two worker processes (activity-worker RSS measured apart). */
  splitWorkers: boolean;
  /** Server to create the bench database on (its database part is replaced). */
  serverUrl: string;
  /** CPU-profile one project ingest (node --cpu-prof) and summarise where time goes. */
  profile: boolean;
  resultsDir: string;
  /** Re-render the markdown of an existing results file instead of measuring. */
  render?: string;
  /** source-db: rows per chunk activity of a database read (GUDANG_DB_CHUNK_ROWS of the worker). */
  dbChunkRows: number;
  /** superstore: order lines, customers and product ids of the generated Superstore data. */
  superstoreLines: number;
  superstoreCustomers: number;
  superstoreProducts: number;
  /** stream: how long the load generator runs (seconds) and its rate (order lines per second). */
  streamSeconds: number;
  streamRate: number;
}

export const USAGE = `npm run bench -- [options]

  --order-lines N      order lines in order_details.csv (default 1000000; 1M, 10M, 500k accepted)
  --repeats R          repeats of each measurement, alternating (default 3)
  --pandas-repeats K   repeats of the pandas to_sql method (default R up to 2M lines, else 1)
  --data DIR           reuse the source files in DIR (default bench/data/lines-N-seed-S, generated if missing)
  --seed S             generator seed (default 42)
  --skip-pandas        do not run the pandas to_sql method
  --no-zod-variant     do not measure the Zod path (a copy of the file with qty quoted, which the ingest
                       engine's fast path declines, so every row goes through csv-parse and Zod)
  --only PARTS         comma-separated subset of ingest,transform,e2e,fanout,dashboard,workers,source-db,
                       superstore,zod-rows (default ingest,transform,e2e,workers,zod-rows; dashboard: API
                       latency and page paint over the built warehouse; workers: the compiled worker's idle and
                       peak RSS over a whole run, and one vs two worker processes loading one file's chunks;
                       source-db: the order lines read from PostgreSQL and MariaDB by gudang against psql's copy
                       and the mariadb client; zod-rows: the raw Superstore CSV's shape at N lines, gudang's
                       ingest against psql \\copy; see bench/README.md)
                       (--only backup: backup and restore against pg_dump -Fc / pg_restore, and
                       order_details from a local MinIO against local disk)
  --db-chunk-rows N    source-db: rows per chunk of a database read (default 250000: 4 chunks at 1M)
  --superstore-lines N, --superstore-customers M, --superstore-products P
                       superstore: size of the generated data (default 1M, 100k, 2000)
  --stream-seconds S   stream: how long the load generator inserts order lines (default 300)
  --stream-rate N      stream: order lines per second (default 1000); stream reports source-commit-to-mart
                       latency, the time to drain after the load, and the worker's RSS (bench/lib/stream.ts)
  --chunks             also run the fan-out sweep (chunks x concurrency) of the ingest engine
  --profile            CPU-profile one project ingest and print where the time goes
  --keep               keep the bench database (default: dropped at the end)
  --split-workers      e2e with two worker processes: workflows only, activities only (RSS of each)
  --server URL         PostgreSQL server (default $BENCH_DATABASE_URL or postgres://root@127.0.0.1:5432/postgres)
  --results DIR        where to write <date>-<N>.json (default bench/results)
  --render FILE        print the markdown of an existing results file (no measuring)
  -h, --help           this text
`;

/** 1M -> 1000000, 500k -> 500000, 2.5M -> 2500000, 10000 -> 10000. */
export function parseCount(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.replace(/_/g, ''));
  if (!m) throw new Error(`not a count: ${text}`);
  const mult = m[2]!.toLowerCase() === 'm' ? 1e6 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1;
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a positive count: ${text}`);
  return n;
}

export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  let orderLines = 1_000_000;
  let repeats = 3;
  let pandasRepeats: number | undefined;
  let parts: Part[] | undefined;
  const o: Omit<BenchOptions, 'orderLines' | 'repeats' | 'pandasRepeats' | 'parts'> = {
    seed: 42,
    skipPandas: false,
    zodVariant: true,
    chunks: false,
    keep: false,
    splitWorkers: false,
    serverUrl: process.env.BENCH_DATABASE_URL || 'postgres://root@127.0.0.1:5432/postgres',
    profile: false,
    resultsDir: 'bench/results',
    dbChunkRows: 250_000,
    superstoreLines: 1_000_000,
    superstoreCustomers: 100_000,
    superstoreProducts: 2_000,
    streamSeconds: 300,
    streamRate: 1000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--order-lines':
        orderLines = parseCount(value());
        break;
      case '--repeats':
        repeats = parseCount(value());
        break;
      case '--pandas-repeats':
        pandasRepeats = Number(value());
        break;
      case '--data':
        o.dataDir = value();
        break;
      case '--seed':
        o.seed = Number(value());
        break;
      case '--skip-pandas':
        o.skipPandas = true;
        break;
      case '--no-zod-variant':
        o.zodVariant = false;
        break;
      case '--only':
        parts = value()
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean) as Part[];
        for (const p of parts) if (!ALL_PARTS.includes(p)) throw new Error(`--only: unknown part ${p} (known: ${ALL_PARTS.join(', ')})`);
        break;
      case '--chunks':
        o.chunks = true;
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--split-workers':
        o.splitWorkers = true;
        break;
      case '--server':
        o.serverUrl = value();
        break;
      case '--results':
        o.resultsDir = value();
        break;
      case '--render':
        o.render = value();
        break;
      case '--db-chunk-rows':
        o.dbChunkRows = parseCount(value());
        break;
      case '--superstore-lines':
        o.superstoreLines = parseCount(value());
        break;
      case '--superstore-customers':
        o.superstoreCustomers = parseCount(value());
        break;
      case '--superstore-products':
        o.superstoreProducts = parseCount(value());
        break;
      case '--stream-seconds':
        o.streamSeconds = parseCount(value());
        break;
      case '--stream-rate':
        o.streamRate = parseCount(value());
        break;
      default:
        throw new Error(`unknown option ${a}\n\n${USAGE}`);
    }
  }
  parts ??= ['ingest', 'transform', 'e2e', 'workers', 'zod-rows'];
  if (o.chunks && !parts.includes('fanout')) parts.push('fanout');
  return {
    ...o,
    orderLines,
    repeats,
    pandasRepeats: pandasRepeats ?? (orderLines <= 2_000_000 ? repeats : 1),
    parts,
  };
}
