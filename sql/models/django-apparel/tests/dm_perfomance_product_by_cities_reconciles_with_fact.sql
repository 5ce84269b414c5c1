-- check: dm_perfomance_product_by_cities_reconciles_with_fact
-- table: mart.dm_perfomance_product_by_cities
--
-- The mart's totals equal the fact's: quantity, sales, and orders (each mart row counts the distinct
-- orders of its city and product, so the mart's total_orders sum to the number of distinct
-- (order, city, product) combinations in the fact), and it has one row per (city, product) present in
-- the fact. One offending row per metric that differs.
-- The fact is the one this run publishes: on a full refresh the fact it built; after a period run
-- (gudang.period = 'YYYY-MM') the month it built plus the published lines of other months the month does not take
-- over. The check never starts from the published mart, so a mart that drifted from the fact is caught.

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

fact AS NOT MATERIALIZED (
  SELECT f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales FROM {{ ref('fct_transactions') }} AS f
  UNION ALL
  SELECT f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  CROSS JOIN run
  -- a subquery, so a one-time filter: a full refresh never reads the published fact (with run.period the anti-join
  -- below ran over the whole published fact first, 0.7 s at 1M lines, and found nothing to keep)
  WHERE (SELECT period FROM run) IS NOT NULL
    AND (f.order_date IS NULL OR f.order_date < run.starts OR f.order_date >= run.ends)
    AND NOT EXISTS (SELECT 1 FROM {{ ref('fct_transactions') }} AS n WHERE n.order_detail_id = f.order_detail_id)
),

mart AS (
  SELECT total_quantity, total_sales, total_orders FROM {{ ref('dm_perfomance_product_by_cities') }}
),

-- one scan of the fact, sorted by (city, product): a pair's quantity and sales, and its distinct orders by
-- count(DISTINCT), which sorts the pair's order ids (about a hundred) in memory. Summing the pairs gives the mart's
-- total_orders summed, counting them its row count (issue 14: a hash of every (city, product, order) with two numeric
-- sums each spilled to disk at 1M lines and took twice as long).
per_pair AS (
  SELECT sum(qty) AS qty, sum(unit_sales) AS sales, count(DISTINCT order_id) AS orders
  FROM fact
  GROUP BY location_key, product_key
),

fact_totals AS (
  SELECT
    coalesce(sum(qty), 0)::numeric    AS total_quantity,
    coalesce(sum(sales), 0)::numeric  AS total_sales,
    coalesce(sum(orders), 0)::numeric AS total_orders,
    count(*)::numeric                 AS row_count
  FROM per_pair
),

mart_totals AS (
  SELECT
    coalesce(sum(total_quantity), 0)::numeric AS total_quantity,
    coalesce(sum(total_sales), 0)::numeric    AS total_sales,
    coalesce(sum(total_orders), 0)::numeric   AS total_orders,
    count(*)::numeric                         AS row_count
  FROM mart
),

compared AS (
  SELECT v.metric, v.fact_value, v.mart_value
  FROM fact_totals AS f
  CROSS JOIN mart_totals AS m
  CROSS JOIN LATERAL (VALUES
    (1, 'total_quantity', f.total_quantity, m.total_quantity),
    (2, 'total_sales',    f.total_sales,    m.total_sales),
    (3, 'total_orders',   f.total_orders,   m.total_orders),
    (4, 'rows',           f.row_count,      m.row_count)
  ) AS v(ord, metric, fact_value, mart_value)
  WHERE v.fact_value IS DISTINCT FROM v.mart_value
  ORDER BY v.ord
)

SELECT metric, fact_value, mart_value FROM compared
