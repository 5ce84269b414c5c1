-- check: dm_perfomance_product_by_cities_reconciles_with_fact
-- table: mart.dm_perfomance_product_by_cities
--
-- The mart's totals equal the fact's: quantity, sales, and orders (each mart row counts the distinct
-- orders of its city and product, so the mart's total_orders sum to the number of distinct
-- (order, city, product) combinations in the fact), and it has one row per (city, product) present in
-- the fact. One offending row per metric that differs.
-- A full refresh compares the whole fact with the all-time mart. A period run (gudang.period = 'YYYY-MM') compares
-- the month it built with that month's rows of dm_perfomance_product_by_cities_monthly, which the all-time mart is
-- summed from (dm_perfomance_product_by_cities_monthly_reconciles checks that sum): the other months' rows are the
-- ones earlier runs checked, so a period run reads one month of the fact (issue 14: a one-month run touches only
-- that month). The check never starts from the published marts, so a mart that drifted from the fact is caught.

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

-- a full refresh: the fact it built; a period run: its month ({{ ref() }} holds only that month)
fact AS NOT MATERIALIZED (
  SELECT f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

mart AS (
  SELECT total_quantity, total_sales, total_orders FROM {{ ref('dm_perfomance_product_by_cities') }}
  WHERE (SELECT period FROM run) IS NULL -- one-time filters: each run reads one of the two marts
  UNION ALL
  SELECT m.total_quantity, m.total_sales, m.total_orders
  FROM {{ ref('dm_perfomance_product_by_cities_monthly') }} AS m
  CROSS JOIN run
  WHERE (SELECT period FROM run) IS NOT NULL AND m.month = run.starts::date
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
