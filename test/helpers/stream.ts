/**
 * Shared by the stream tests (test/integration/stream.test.ts, test/faults/stream-*.test.ts): changes made to the
 * shop database while a stream runs, and the check that the warehouse the stream left equals a batch run over the
 * same source rows.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';

/** What the stream writes: staging of the streamed sources, the fact and the marts. Numbers compared by value. */
export async function streamedTables(pool: pg.Pool): Promise<Record<string, string[]>> {
  const tables = ['staging.orders', 'staging.order_details', 'warehouse.fct_transactions', 'warehouse.dim_date', 'mart.dm_revenue_by_months', 'mart.dm_perfomance_product_by_cities'];
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    const { rows } = await pool.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM ${t} x`);
    out[t] = rows.map((r) => JSON.stringify(JSON.parse(r.r))).sort();
  }
  return out;
}

/** Asserts two dumps are equal, naming the table and the first differing rows when they are not. */
export function assertSameTables(actual: Record<string, string[]>, expected: Record<string, string[]>, what: string): void {
  for (const t of Object.keys(expected)) {
    const a = new Set(actual[t]);
    const e = new Set(expected[t]);
    const missing = [...e].filter((r) => !a.has(r)).slice(0, 5);
    const extra = [...a].filter((r) => !e.has(r)).slice(0, 5);
    assert.ok(missing.length === 0 && extra.length === 0 && actual[t]!.length === expected[t]!.length, `${what}: ${t} differs (${actual[t]!.length} vs ${expected[t]!.length} rows); only in the batch run: ${missing.join(' ')}; only after the stream: ${extra.join(' ')}`);
  }
}

interface ShopIds {
  order: number;
  line: number;
  products: { id: number; price: number }[];
  cities: number[];
  customers: number[];
}

async function shopIds(shop: pg.Pool): Promise<ShopIds> {
  const { rows } = await shop.query(`SELECT (SELECT max(order_id) FROM orders)::int AS o, (SELECT max(order_detail_id) FROM order_details)::int AS d`);
  const products = await shop.query(`SELECT DISTINCT product_id::int AS id, item_price::float8 AS price FROM order_details ORDER BY 1 LIMIT 20`);
  const cities = await shop.query(`SELECT DISTINCT city_id::int AS c FROM orders ORDER BY 1 LIMIT 10`);
  const customers = await shop.query(`SELECT DISTINCT customer_id::int AS c FROM orders ORDER BY 1 LIMIT 10`);
  const seen = new Set<number>();
  return {
    order: rows[0].o,
    line: rows[0].d,
    products: products.rows.filter((p) => !seen.has(p.id) && seen.add(p.id)),
    cities: cities.rows.map((r) => r.c),
    customers: customers.rows.map((r) => r.c),
  };
}

const guarded = new WeakSet<pg.PoolClient>();

/** A deterministic little PRNG, so a failing run can be repeated. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Makes `rounds` rounds of changes, each its own few source transactions: new orders with lines (some in a new year),
 * line quantity changes, orders moved to another month and city, deleted lines, deleted orders with their lines, a
 * line whose key changes, and (when `invalid`) a line that fails validation and orders that fail it (no customer)
 * while their lines are inserted and updated: one corrected later, one left invalid, one deleted with its lines, and
 * a valid order broken and corrected again. Returns how many transactions it made.
 */
export async function changeShop(
  shop: pg.Pool,
  opts: { rounds: number; seed: number; invalid?: boolean; pauseMs?: number; stopAt?: () => boolean; /** a failed transaction (the shop restarting) is skipped */ tolerate?: boolean },
): Promise<number> {
  const ids = await shopIds(shop);
  const rand = rng(opts.seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  let nextOrder = ids.order + 1 + opts.seed * 100_000;
  let nextLine = ids.line + 1 + opts.seed * 1_000_000;
  let txns = 0;
  const tx = async (fn: (c: pg.PoolClient) => Promise<void>) => {
    let c: pg.PoolClient;
    try {
      c = await shop.connect();
    } catch (err) {
      if (!opts.tolerate) throw err;
      await new Promise((r) => setTimeout(r, 200));
      return;
    }
    if (!guarded.has(c)) {
      guarded.add(c);
      c.on('error', () => undefined); // the shop restarting: the statement in flight fails instead
    }
    let broken = false;
    try {
      await c.query('BEGIN');
      await fn(c);
      await c.query('COMMIT');
      txns++;
    } catch (err) {
      broken = true;
      await c.query('ROLLBACK').catch(() => undefined);
      if (!opts.tolerate) throw err;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      c.release(broken);
    }
  };
  const someOrder = async (c: pg.PoolClient) => (await c.query(`SELECT order_id::int AS o FROM orders ORDER BY random() LIMIT 1`)).rows[0]?.o as number | undefined;
  for (let round = 0; round < opts.rounds && !opts.stopAt?.(); round++) {
    // a new order with 1-4 lines; every fifth in 2031 (a year dim_date does not have yet)
    await tx(async (c) => {
      const o = nextOrder++;
      const year = round % 5 === 4 ? 2031 : 2022;
      const date = `${year}-0${1 + Math.floor(rand() * 6)}-${10 + Math.floor(rand() * 18)} 10:${10 + Math.floor(rand() * 49)}:00`;
      await c.query(`INSERT INTO orders VALUES ($1, $2, $3, 1, $4)`, [o, date, pick(ids.customers), pick(ids.cities)]);
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const p = pick(ids.products);
        const qty = 1 + Math.floor(rand() * 3);
        await c.query(`INSERT INTO order_details VALUES ($1, $2, $3, $4, $5, $6)`, [nextLine++, o, p.id, qty, p.price, qty * p.price]);
      }
    });
    // a line's quantity changes
    await tx(async (c) => {
      await c.query(
        `UPDATE order_details SET qty = qty + 1, unit_sales = (qty + 1) * item_price
          WHERE order_detail_id = (SELECT order_detail_id FROM order_details ORDER BY random() LIMIT 1)`,
      );
    });
    // an order moves to another month and city
    if (round % 2 === 0) {
      await tx(async (c) => {
        const o = await someOrder(c);
        if (o !== undefined) await c.query(`UPDATE orders SET order_date = order_date + interval '32 days', city_id = $2 WHERE order_id = $1`, [o, pick(ids.cities)]);
      });
    }
    // a line is deleted
    if (round % 3 === 1) await tx((c) => c.query(`DELETE FROM order_details WHERE order_detail_id = (SELECT order_detail_id FROM order_details ORDER BY random() LIMIT 1)`).then(() => undefined));
    // an order is deleted with its lines
    if (round % 4 === 2) {
      await tx(async (c) => {
        const o = await someOrder(c);
        if (o === undefined) return;
        await c.query(`DELETE FROM order_details WHERE order_id = $1`, [o]);
        await c.query(`DELETE FROM orders WHERE order_id = $1`, [o]);
      });
    }
    // a line's key changes (pgoutput sends the old key)
    if (round % 5 === 3) {
      await tx(async (c) => {
        await c.query(`UPDATE order_details SET order_detail_id = $1 WHERE order_detail_id = (SELECT order_detail_id FROM order_details ORDER BY random() LIMIT 1)`, [nextLine++]);
      });
    }
    // every line of one order changes in one transaction
    if (round % 6 === 5) {
      await tx(async (c) => {
        const o = await someOrder(c);
        if (o !== undefined) await c.query(`UPDATE order_details SET qty = qty + 2, unit_sales = (qty + 2) * item_price WHERE order_id = $1`, [o]);
      });
    }
    if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
  }
  if (opts.invalid) {
    // quantity 0: the batch load rejects this line, so the stream must leave it out too
    await tx(async (c) => {
      const o = await someOrder(c);
      const p = ids.products[0]!;
      await c.query(`INSERT INTO order_details VALUES ($1, $2, $3, 0, $4, 0)`, [nextLine++, o, p.id, p.price]);
    });
    // orders failing validation (no customer): a batch run rejects them and quarantines their lines, so the stream
    // must keep the lines out while the order is invalid and put them back once it is corrected or deleted
    const line = async (c: pg.PoolClient, o: number) => {
      const p = pick(ids.products);
      await c.query(`INSERT INTO order_details VALUES ($1, $2, $3, 2, $4, $5)`, [nextLine++, o, p.id, p.price, 2 * p.price]);
    };
    const fixed = nextOrder++; // new and invalid with its lines, changed while invalid, then corrected
    const kept = nextOrder++; // new and invalid, stays invalid
    const dropped = nextOrder++; // invalid, then deleted with its lines
    for (const o of [fixed, kept, dropped]) {
      await tx(async (c) => {
        await c.query(`INSERT INTO orders VALUES ($1, '2022-04-12 09:30:00', NULL, 1, $2)`, [o, pick(ids.cities)]);
        await line(c, o);
        await line(c, o);
      });
    }
    await tx(async (c) => {
      await c.query(`UPDATE order_details SET qty = qty + 1, unit_sales = (qty + 1) * item_price WHERE order_id = $1`, [fixed]);
      await line(c, fixed);
    });
    await tx((c) => line(c, kept));
    // an order that was valid (its lines staged) becomes invalid, a line of it changes, and it is corrected later
    let broken: number | undefined;
    await tx(async (c) => {
      broken = (await c.query(`SELECT order_id::int AS o FROM order_details WHERE order_id <> ALL($1::bigint[]) ORDER BY random() LIMIT 1`, [[fixed, kept, dropped]])).rows[0]?.o as number | undefined;
      if (broken !== undefined) await c.query(`UPDATE orders SET customer_id = NULL WHERE order_id = $1`, [broken]);
    });
    if (broken !== undefined) {
      await tx(async (c) => {
        await c.query(`UPDATE order_details SET qty = qty + 1, unit_sales = (qty + 1) * item_price WHERE order_detail_id = (SELECT min(order_detail_id) FROM order_details WHERE order_id = $1)`, [broken]);
      });
    }
    // corrections in transactions of their own, lines untouched
    await tx((c) => c.query(`UPDATE orders SET customer_id = $2 WHERE order_id = $1`, [fixed, pick(ids.customers)]).then(() => undefined));
    if (broken !== undefined) await tx((c) => c.query(`UPDATE orders SET customer_id = $2 WHERE order_id = $1`, [broken, pick(ids.customers)]).then(() => undefined));
    await tx(async (c) => {
      await c.query(`DELETE FROM order_details WHERE order_id = $1`, [dropped]);
      await c.query(`DELETE FROM orders WHERE order_id = $1`, [dropped]);
    });
  }
  return txns;
}
