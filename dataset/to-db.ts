/**
 * Seeds a shop database (PostgreSQL or MariaDB) with generated orders and order lines: the operational tables
 * `orders` and `order_details`, the columns of the Django Apparel sources, loaded from the generator's CSV files.
 * `npm run generate -- --to-db URL` calls it after writing the files; tests and the benchmark call it directly.
 * PostgreSQL is filled with COPY FROM STDIN, MariaDB with batched multi-row INSERTs, both streaming off the files.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import * as mariadb from 'mariadb';
import { parse } from 'csv-parse';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { parseSourceDbUrl, sourceDbLocator } from '../src/sources/database';

const PG_DDL = [
  `DROP TABLE IF EXISTS order_details`,
  `DROP TABLE IF EXISTS orders`,
  `CREATE TABLE orders (order_id bigint PRIMARY KEY, order_date timestamp NOT NULL, customer_id bigint, province_id bigint, city_id bigint)`,
  `CREATE TABLE order_details (order_detail_id bigint PRIMARY KEY, order_id bigint NOT NULL, product_id bigint, qty integer,
                               item_price numeric(14, 2), unit_sales numeric(16, 2))`,
];
const PG_INDEXES = [`CREATE INDEX orders_order_date_idx ON orders (order_date)`, `CREATE INDEX order_details_order_id_idx ON order_details (order_id)`];

const MARIADB_DDL = [
  `DROP TABLE IF EXISTS order_details`,
  `DROP TABLE IF EXISTS orders`,
  `CREATE TABLE orders (order_id bigint PRIMARY KEY, order_date datetime(3) NOT NULL, customer_id bigint, province_id bigint, city_id bigint,
                        KEY orders_order_date_idx (order_date))`,
  `CREATE TABLE order_details (order_detail_id bigint PRIMARY KEY, order_id bigint NOT NULL, product_id bigint, qty int,
                               item_price decimal(14, 2), unit_sales decimal(16, 2), KEY order_details_order_id_idx (order_id))`,
];

/** Rows per INSERT statement into MariaDB (6 columns: 6,000 placeholders, about 250 kB of SQL). */
const MARIADB_BATCH_ROWS = 1000;

/**
 * Fills a MariaDB table from a CSV file (header first) with multi-row INSERTs of MARIADB_BATCH_ROWS rows, one at a
 * time: memory holds one batch, and the file is read only as fast as the server takes the rows. (LOAD DATA LOCAL
 * INFILE through the mariadb connector was the first choice; the connector reads the whole file as fast as the
 * disk gives it and sends it in 16 MB packets, above the server's default max_allowed_packet of 16 MB: the server
 * cut the connection at 1M order lines.)
 */
async function insertCsvInBatches(conn: mariadb.Connection, table: string, file: string): Promise<void> {
  const parser = createReadStream(file).pipe(parse({ from_line: 1 }));
  let header: string[] | undefined;
  let batch: unknown[] = [];
  let rows = 0;
  const flush = async () => {
    if (rows === 0) return;
    const tuple = `(${header!.map(() => '?').join(', ')})`;
    await conn.query(`INSERT INTO \`${table}\` (${header!.map((c) => `\`${c}\``).join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`, batch);
    batch = [];
    rows = 0;
  };
  for await (const record of parser as AsyncIterable<string[]>) {
    if (!header) {
      header = record;
      continue;
    }
    for (const v of record) batch.push(v === '' ? null : v);
    if (++rows >= MARIADB_BATCH_ROWS) await flush();
  }
  await flush();
}

export interface SeedResult {
  locator: string;
  orders: number;
  orderDetails: number;
  durationMs: number;
}

/** (Re)creates orders and order_details in the database at `url` and fills them from DIR/orders.csv and DIR/order_details.csv. */
export async function seedShopDatabase(url: string, dir: string): Promise<SeedResult> {
  const started = Date.now();
  const db = parseSourceDbUrl(url);
  const files = { orders: path.join(dir, 'orders.csv'), order_details: path.join(dir, 'order_details.csv') };
  let counts: [number, number];
  if (db.kind === 'postgres') {
    const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
    await client.connect();
    try {
      for (const sql of PG_DDL) await client.query(sql);
      for (const [table, file] of Object.entries(files)) {
        await pipeline(createReadStream(file), client.query(copyFrom(`COPY ${table} FROM STDIN WITH (FORMAT csv, HEADER true)`)));
      }
      for (const sql of PG_INDEXES) await client.query(sql);
      await client.query('ANALYZE orders; ANALYZE order_details');
      const { rows } = await client.query<{ o: number; d: number }>(`SELECT (SELECT count(*) FROM orders)::int AS o, (SELECT count(*) FROM order_details)::int AS d`);
      counts = [rows[0]!.o, rows[0]!.d];
    } finally {
      await client.end();
    }
  } else {
    const conn = await mariadb.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
    try {
      for (const sql of MARIADB_DDL) await conn.query(sql);
      for (const [table, file] of Object.entries(files)) await insertCsvInBatches(conn, table, file);
      const rows = await conn.query<{ o: bigint; d: bigint }[]>(`SELECT (SELECT count(*) FROM orders) AS o, (SELECT count(*) FROM order_details) AS d`);
      counts = [Number(rows[0]!.o), Number(rows[0]!.d)];
    } finally {
      await conn.end();
    }
  }
  return { locator: sourceDbLocator(url), orders: counts[0], orderDetails: counts[1], durationMs: Date.now() - started };
}
