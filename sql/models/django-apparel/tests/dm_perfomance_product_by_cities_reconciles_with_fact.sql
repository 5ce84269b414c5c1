-- check: dm_perfomance_product_by_cities_reconciles_with_fact
-- table: mart.dm_perfomance_product_by_cities
--
-- The mart's totals equal the fact's: quantity, sales, and orders (each mart row counts the distinct
-- orders of its city and product, so the mart's total_orders sum to the number of distinct
-- (order, city, product) combinations in the fact), and it has one row per (city, product) present in
-- the fact. One offending row per metric that differs.
-- After a period run (gudang.period = 'YYYY-MM') the mart changed by what the run changed in the fact: the mart's
-- totals must equal the published mart's plus the month's lines as of the run minus the published lines it
-- replaced (the month's, and those moved into it); the row count is not compared then.
WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

fact AS NOT MATERIALIZED (
  SELECT f.order_detail_id, f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

replaced AS (
  SELECT f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NOT NULL
    AND ((f.order_date >= run.starts AND f.order_date < run.ends)
         OR ((f.order_date < run.starts OR f.order_date >= run.ends) AND f.order_detail_id IN (SELECT order_detail_id FROM fact)))
),

mart AS (
  SELECT total_quantity, total_sales, total_orders FROM {{ ref('dm_perfomance_product_by_cities') }}
),

published_mart AS (
  SELECT p.total_quantity, p.total_sales, p.total_orders
  FROM {{ published('dm_perfomance_product_by_cities') }} AS p
  CROSS JOIN run
  WHERE run.period IS NOT NULL
),

-- one scan of the fact, hashed twice: a row per (city, product, order), then per (city, product). Counting the
-- first gives the mart's total_orders summed, counting the second its row count (no DISTINCT sort).
per_order AS (
  SELECT location_key, product_key, sum(qty) AS qty, sum(unit_sales) AS sales
  FROM fact
  GROUP BY location_key, product_key, order_id
),

per_pair AS (
  SELECT sum(qty) AS qty, sum(sales) AS sales, count(*) AS orders
  FROM per_order
  GROUP BY location_key, product_key
),

replaced_per_order AS (
  SELECT sum(qty) AS qty, sum(unit_sales) AS sales
  FROM replaced
  GROUP BY location_key, product_key, order_id
),

fact_totals AS (
  SELECT
    f.total_quantity - r.qty + m.qty         AS total_quantity,
    f.total_sales - r.sales + m.sales        AS total_sales,
    f.total_orders - r.orders + m.orders     AS total_orders,
    CASE WHEN run.period IS NULL THEN f.row_count END AS row_count
  FROM (
    SELECT
      coalesce(sum(qty), 0)::numeric     AS total_quantity,
      coalesce(sum(sales), 0)::numeric   AS total_sales,
      coalesce(sum(orders), 0)::numeric  AS total_orders,
      count(*)::numeric                  AS row_count
    FROM per_pair
  ) AS f
  CROSS JOIN (
    SELECT coalesce(sum(qty), 0)::numeric AS qty, coalesce(sum(sales), 0)::numeric AS sales, count(*)::numeric AS orders
    FROM replaced_per_order
  ) AS r
  CROSS JOIN (
    SELECT coalesce(sum(total_quantity), 0)::numeric AS qty, coalesce(sum(total_sales), 0)::numeric AS sales,
           coalesce(sum(total_orders), 0)::numeric AS orders
    FROM published_mart
  ) AS m
  CROSS JOIN run
),

mart_totals AS (
  SELECT
    coalesce(sum(total_quantity), 0)::numeric AS total_quantity,
    coalesce(sum(total_sales), 0)::numeric    AS total_sales,
    coalesce(sum(total_orders), 0)::numeric   AS total_orders,
    CASE WHEN (SELECT period FROM run) IS NULL THEN count(*)::numeric END AS row_count
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
