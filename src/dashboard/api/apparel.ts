import type { Pool } from '../../db';
import { checkRange, limit, month, offset, order, text } from '../params';
import type { Api } from '../server';
import { z } from 'zod';

// Django Apparel: mart.dm_revenue_by_months (one row per month), mart.dm_perfomance_product_by_cities (one row per
// city and product, all-time) and its month grain mart.dm_perfomance_product_by_cities_monthly, read when a period
// (from/to) is asked for. Read by their schema-qualified names only.

const MEASURES = ['total_sales', 'total_quantity', 'total_orders'] as const;
/** Grouping columns of the top-N view: API name -> the mart's column (never taken from the request). */
const GROUPS = { product: 'product_name', city: 'city_name', province: 'province_name', category: 'product_category_name', size: 'size' } as const;
const SORTS = ['total_sales', 'total_quantity', 'total_orders', 'city_name', 'province_name', 'product_name', 'product_category_name', 'size'] as const;

const filters = { province: text.optional(), city: text.optional(), category: text.optional(), product: text.optional(), size: text.optional() };
type Filters = { province?: string; city?: string; category?: string; product?: string; size?: string };
const FILTER_SQL = `($1::text IS NULL OR province_name = $1) AND ($2::text IS NULL OR city_name = $2)
  AND ($3::text IS NULL OR product_category_name = $3) AND ($4::text IS NULL OR product_name = $4) AND ($5::text IS NULL OR size = $5)`;
const filterArgs = (f: Filters) => [f.province ?? null, f.city ?? null, f.category ?? null, f.product ?? null, f.size ?? null];

const period = { from: month.optional(), to: month.optional() };
type Period = { from?: string; to?: string };

/**
 * Product performance by city over a period: the all-time mart when no month is given, else the monthly mart summed
 * over the months from..to (its months are those of the order date). `$n` and `$n+1` are the query's from and to.
 */
function productsOver(p: Period, n: number): { sql: string; args: (string | null)[] } {
  checkRange(p.from, p.to);
  if (!p.from && !p.to) return { sql: 'mart.dm_perfomance_product_by_cities', args: [] };
  return {
    sql: `(SELECT city_id, city_name, province_name, product_id, product_name, size, product_category_name,
                  sum(total_quantity)::bigint AS total_quantity, sum(total_sales) AS total_sales, sum(total_orders)::bigint AS total_orders
             FROM mart.dm_perfomance_product_by_cities_monthly
            WHERE month IS NOT NULL AND ($${n}::text IS NULL OR month >= to_date($${n}, 'YYYY-MM')) AND ($${n + 1}::text IS NULL OR month <= to_date($${n + 1}, 'YYYY-MM'))
            GROUP BY city_id, city_name, province_name, product_id, product_name, size, product_category_name)`,
    args: [p.from ?? null, p.to ?? null],
  };
}

export function registerApparel(api: Api, pool: Pool): void {
  api('/api/apparel/monthly', { from: month.optional(), to: month.optional() }, async ({ from, to }) => {
    checkRange(from, to);
    const { rows } = await pool.query(
      `SELECT to_char(month, 'YYYY-MM') AS month, extract(year FROM month)::int AS year, extract(month FROM month)::int AS month_of_year,
              total_revenue::float8 AS total_revenue, total_orders, total_quantity, average_order_value::float8 AS average_order_value
         FROM mart.dm_revenue_by_months
        WHERE ($1::text IS NULL OR month >= to_date($1, 'YYYY-MM')) AND ($2::text IS NULL OR month <= to_date($2, 'YYYY-MM'))
        ORDER BY month`,
      [from ?? null, to ?? null],
    );
    return { rows };
  });

  api('/api/apparel/filters', {}, async () => {
    const [months, members] = await Promise.all([
      pool.query(`SELECT to_char(min(month), 'YYYY-MM') AS first, to_char(max(month), 'YYYY-MM') AS last FROM mart.dm_revenue_by_months`),
      // one scan of the mart: the members of each filter, cities with their province, products with their category
      pool.query<{ kind: string; value: string; parent: string | null }>(
        `SELECT CASE WHEN GROUPING(city_name) = 0 THEN 'city' WHEN GROUPING(province_name) = 0 THEN 'province'
                     WHEN GROUPING(product_name) = 0 THEN 'product' WHEN GROUPING(product_category_name) = 0 THEN 'category'
                     ELSE 'size' END AS kind,
                coalesce(city_name, province_name, product_name, product_category_name, size) AS value,
                CASE WHEN GROUPING(city_name) = 0 THEN province_name WHEN GROUPING(product_name) = 0 THEN product_category_name END AS parent
           FROM mart.dm_perfomance_product_by_cities
          GROUP BY GROUPING SETS ((province_name), (province_name, city_name), (product_category_name), (product_category_name, product_name), (size))
          ORDER BY 1, 2, 3`,
      ),
    ]);
    return { months: months.rows[0], rows: members.rows };
  });

  api(
    '/api/apparel/products',
    { ...filters, ...period, sort: z.enum(SORTS).default('total_sales'), order, limit: limit(500, 25), offset },
    async (p) => {
      const src = productsOver(p, 8);
      const { rows } = await pool.query(
        `SELECT province_name, city_name, product_category_name, product_name, size,
                total_quantity, total_sales::float8 AS total_sales, total_orders, count(*) OVER () AS total_rows
           FROM ${src.sql} AS m
          WHERE ${FILTER_SQL}
          ORDER BY m.${p.sort} ${p.order}, m.city_id NULLS LAST, m.product_id NULLS LAST
          LIMIT $6 OFFSET $7`,
        [...filterArgs(p), p.limit, p.offset, ...src.args],
      );
      const total = rows.length > 0 ? Number(rows[0].total_rows) : await countProducts(pool, p);
      for (const r of rows) delete r.total_rows;
      return { total, limit: p.limit, offset: p.offset, rows };
    },
  );

  api(
    '/api/apparel/top',
    { ...filters, ...period, by: z.enum(Object.keys(GROUPS) as [keyof typeof GROUPS]).default('product'), metric: z.enum(MEASURES).default('total_sales'), n: limit(100, 10) },
    async (p) => {
      const column = GROUPS[p.by];
      const src = productsOver(p, 7);
      const { rows } = await pool.query(
        `SELECT ${column} AS member, sum(total_sales)::float8 AS total_sales, sum(total_quantity)::bigint AS total_quantity,
                sum(total_orders)::bigint AS total_orders
           FROM ${src.sql} AS m
          WHERE ${FILTER_SQL}
          GROUP BY ${column}
          ORDER BY ${p.metric} DESC, member
          LIMIT $6`,
        [...filterArgs(p), p.n, ...src.args],
      );
      return { by: p.by, metric: p.metric, rows };
    },
  );

  api('/api/apparel/heatmap', { ...filters, ...period, metric: z.enum(MEASURES).default('total_sales') }, async (p) => {
    const src = productsOver(p, 6);
    const { rows } = await pool.query(
      `SELECT province_name, product_category_name, sum(total_sales)::float8 AS total_sales,
              sum(total_quantity)::bigint AS total_quantity, sum(total_orders)::bigint AS total_orders
         FROM ${src.sql} AS m
        WHERE ${FILTER_SQL}
        GROUP BY province_name, product_category_name
        ORDER BY province_name, product_category_name`,
      [...filterArgs(p), ...src.args],
    );
    return { metric: p.metric, rows };
  });
}

async function countProducts(pool: Pool, f: Filters & Period): Promise<number> {
  const src = productsOver(f, 6);
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${src.sql} AS m WHERE ${FILTER_SQL}`, [...filterArgs(f), ...src.args]);
  return rows[0].n;
}
