import { z } from 'zod';
import type { Pool } from '../../db';
import { checkRange, day, limit, month, offset, order, text, year } from '../params';
import type { Api, ApiResult } from '../server';

// Superstore: the marts of issue 8, by their contract names in schema superstore_mart. Until they exist (or while
// they are empty) every endpoint answers { loaded: false, rows: [] } and the page says so.

const TABLES = ['sales_kpi_yearly', 'sales_kpi_monthly', 'sales_kpi_by_dimension', 'rfm_customers', 'rfm_segments'];
const DIMENSIONS = ['segment', 'region', 'category', 'sub_category', 'ship_mode'] as const;
const MEASURES = ['sales', 'profit', 'orders', 'customers', 'quantity'] as const;
const CUSTOMER_SORTS = ['monetary', 'frequency', 'recency_days', 'customer_name', 'customer_id', 'rfm_segment'] as const;
const KPIS = ['sales', 'profit', 'profit_margin_pct', 'orders', 'customers', 'average_order_value'] as const;

const EMPTY: ApiResult = { loaded: false, rows: [] };

export function registerSuperstore(api: Api, pool: Pool): void {
  /** The marts exist and hold data (one cheap catalog query and one LIMIT 1). */
  async function loaded(): Promise<boolean> {
    const { rows } = await pool.query<{ missing: number }>(
      `SELECT count(*) FILTER (WHERE to_regclass('superstore_mart.' || t) IS NULL)::int AS missing FROM unnest($1::text[]) AS t`,
      [TABLES],
    );
    if (rows[0]!.missing > 0) return false;
    const any = await pool.query(`SELECT 1 FROM superstore_mart.sales_kpi_yearly LIMIT 1`);
    return any.rowCount! > 0;
  }
  const guarded: Api = (route, shape, handler) => api(route, shape, async (p, params) => ((await loaded()) ? { loaded: true, ...(await handler(p, params)) } : EMPTY));

  guarded('/api/superstore/meta', {}, async () => {
    const [years, months, asOf] = await Promise.all([
      pool.query(`SELECT year FROM superstore_mart.sales_kpi_yearly ORDER BY year`),
      pool.query(`SELECT to_char(min(month), 'YYYY-MM') AS first, to_char(max(month), 'YYYY-MM') AS last FROM superstore_mart.sales_kpi_monthly`),
      pool.query(`SELECT DISTINCT to_char(as_of, 'YYYY-MM-DD') AS as_of FROM superstore_mart.rfm_segments ORDER BY 1`),
    ]);
    return { years: years.rows.map((r) => r.year), months: months.rows[0], as_of: asOf.rows.map((r) => r.as_of), rows: [] };
  });

  guarded('/api/superstore/kpis', { year: year.optional() }, async (p) => {
    const { rows } = await pool.query(
      `WITH y AS (SELECT coalesce($1::int, (SELECT max(year) FROM superstore_mart.sales_kpi_yearly)) AS year)
       SELECT k.year, k.sales::float8 AS sales, k.profit::float8 AS profit, k.profit_margin_pct::float8 AS profit_margin_pct,
              k.orders::bigint AS orders, k.customers::bigint AS customers, k.average_order_value::float8 AS average_order_value
         FROM superstore_mart.sales_kpi_yearly AS k, y WHERE k.year IN (y.year, y.year - 1) ORDER BY k.year DESC`,
      [p.year ?? null],
    );
    const [cur, prev] = rows;
    const cards = KPIS.map((kpi) => {
      const value = cur?.[kpi] == null ? null : Number(cur[kpi]);
      const before = prev?.[kpi] == null ? null : Number(prev[kpi]);
      const change_pct = value !== null && before !== null && before !== 0 ? Math.round(((value - before) / Math.abs(before)) * 10000) / 100 : null;
      return { kpi, year: cur?.year ?? p.year ?? null, value, previous: before, change_pct };
    });
    return { year: cur?.year ?? p.year ?? null, rows: cards };
  });

  guarded('/api/superstore/yearly', { from: year.optional(), to: year.optional() }, async (p) => {
    checkRange(p.from, p.to);
    const { rows } = await pool.query(
      `SELECT year, sales::float8 AS sales, profit::float8 AS profit, profit_margin_pct::float8 AS profit_margin_pct, orders::bigint AS orders,
              customers::bigint AS customers, quantity::bigint AS quantity, average_order_value::float8 AS average_order_value,
              sales_yoy_growth_pct::float8 AS sales_yoy_growth_pct, profit_yoy_growth_pct::float8 AS profit_yoy_growth_pct
         FROM superstore_mart.sales_kpi_yearly
        WHERE ($1::int IS NULL OR year >= $1) AND ($2::int IS NULL OR year <= $2) ORDER BY year`,
      [p.from ?? null, p.to ?? null],
    );
    return { rows };
  });

  guarded('/api/superstore/monthly', { from: month.optional(), to: month.optional() }, async (p) => {
    checkRange(p.from, p.to);
    const { rows } = await pool.query(
      `SELECT to_char(month, 'YYYY-MM') AS month, extract(year FROM month)::int AS year, sales::float8 AS sales, profit::float8 AS profit,
              profit_margin_pct::float8 AS profit_margin_pct, orders::bigint AS orders, customers::bigint AS customers,
              quantity::bigint AS quantity, average_order_value::float8 AS average_order_value,
              sales_mom_growth_pct::float8 AS sales_mom_growth_pct, sales_yoy_growth_pct::float8 AS sales_yoy_growth_pct
         FROM superstore_mart.sales_kpi_monthly
        WHERE ($1::text IS NULL OR month >= to_date($1, 'YYYY-MM')) AND ($2::text IS NULL OR month <= to_date($2, 'YYYY-MM'))
        ORDER BY month`,
      [p.from ?? null, p.to ?? null],
    );
    return { rows };
  });

  guarded(
    '/api/superstore/breakdown',
    { dimension: z.enum(DIMENSIONS).default('segment'), metric: z.enum(MEASURES).default('sales'), from: year.optional(), to: year.optional() },
    async (p) => {
      checkRange(p.from, p.to);
      const { rows } = await pool.query(
        `SELECT member, sum(sales)::float8 AS sales, sum(profit)::float8 AS profit, sum(orders)::bigint AS orders,
                sum(customers)::bigint AS customers, sum(quantity)::bigint AS quantity
           FROM superstore_mart.sales_kpi_by_dimension
          WHERE dimension = $1 AND ($2::int IS NULL OR year >= $2) AND ($3::int IS NULL OR year <= $3)
          GROUP BY member ORDER BY ${p.metric} DESC, member`,
        [p.dimension, p.from ?? null, p.to ?? null],
      );
      return { dimension: p.dimension, metric: p.metric, rows };
    },
  );

  guarded('/api/superstore/rfm/segments', { as_of: day.optional() }, async (p) => {
    const { rows } = await pool.query(
      `SELECT to_char(as_of, 'YYYY-MM-DD') AS as_of, rfm_segment, customers::bigint AS customers, customers_share_pct::float8 AS customers_share_pct,
              monetary::float8 AS monetary, monetary_share_pct::float8 AS monetary_share_pct,
              avg_recency_days::float8 AS avg_recency_days, avg_frequency::float8 AS avg_frequency
         FROM superstore_mart.rfm_segments
        WHERE as_of = coalesce($1::date, (SELECT max(as_of) FROM superstore_mart.rfm_segments))
        ORDER BY customers DESC, rfm_segment`,
      [p.as_of ?? null],
    );
    return { as_of: rows[0]?.as_of ?? p.as_of ?? null, rows };
  });

  guarded('/api/superstore/rfm/movement', { from: day, to: day }, async (p) => {
    checkRange(p.from, p.to);
    const { rows } = await pool.query(
      `SELECT coalesce(a.rfm_segment, '(not a customer yet)') AS from_segment, coalesce(b.rfm_segment, '(no longer listed)') AS to_segment,
              count(*)::int AS customers
         FROM (SELECT customer_id, rfm_segment FROM superstore_mart.rfm_customers WHERE as_of = $1::date) AS a
         FULL JOIN (SELECT customer_id, rfm_segment FROM superstore_mart.rfm_customers WHERE as_of = $2::date) AS b USING (customer_id)
        GROUP BY 1, 2 ORDER BY customers DESC, 1, 2`,
      [p.from, p.to],
    );
    return { from: p.from, to: p.to, rows };
  });

  guarded(
    '/api/superstore/rfm/customers',
    { as_of: day.optional(), q: text.optional(), segment: text.optional(), sort: z.enum(CUSTOMER_SORTS).default('monetary'), order, limit: limit(500, 25), offset },
    async (p) => {
      const pattern = p.q ? `%${p.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
      const { rows } = await pool.query(
        `SELECT to_char(as_of, 'YYYY-MM-DD') AS as_of, customer_id, customer_name, rfm_segment, recency_days, frequency,
                monetary::float8 AS monetary, r_score, f_score, m_score, count(*) OVER () AS total_rows
           FROM superstore_mart.rfm_customers
          WHERE as_of = coalesce($1::date, (SELECT max(as_of) FROM superstore_mart.rfm_customers))
            AND ($2::text IS NULL OR customer_name ILIKE $2 OR customer_id ILIKE $2) AND ($3::text IS NULL OR rfm_segment = $3)
          ORDER BY ${p.sort} ${p.order}, customer_id
          LIMIT $4 OFFSET $5`,
        [p.as_of ?? null, pattern, p.segment ?? null, p.limit, p.offset],
      );
      const total = rows.length > 0 ? Number(rows[0].total_rows) : 0;
      for (const r of rows) delete r.total_rows;
      return { total, limit: p.limit, offset: p.offset, rows };
    },
  );
}
