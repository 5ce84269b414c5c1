-- check: fct_transactions_reconciles_with_staging
-- table: warehouse.fct_transactions
--
-- Every order line in staging is in the fact exactly once, with the same order, quantity and amounts,
-- and the fact holds nothing else. Zero rows means pass; this implies that count(*) and
-- sum(unit_sales) of staging.order_details and warehouse.fct_transactions are equal. The first
-- row, when there is one, compares those two totals; the rest name each order line that differs.
-- After a period run (gudang.period = 'YYYY-MM') both sides are restricted to that month: the staging lines
-- whose order is dated in it, and the fact rows dated in it. Other months were not loaded by that run.
WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

staged AS NOT MATERIALIZED (
  SELECT od.order_detail_id, od.order_id, od.qty, od.item_price, od.unit_sales
  FROM {{ source('order_details') }} AS od
  CROSS JOIN run
  WHERE run.period IS NULL
     OR EXISTS (SELECT 1 FROM {{ source('orders') }} AS o
                WHERE o.order_id = od.order_id AND o.order_date >= run.starts AND o.order_date < run.ends)
),

fact AS NOT MATERIALIZED (
  SELECT f.order_detail_id, f.order_id, f.qty, f.item_price, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

line_mismatch AS MATERIALIZED (
  SELECT
    coalesce(s.order_detail_id, f.order_detail_id) AS order_detail_id,
    CASE
      WHEN f.order_detail_id IS NULL THEN 'missing from fact'
      WHEN s.order_detail_id IS NULL THEN 'not in staging'
      ELSE 'values differ'
    END AS problem,
    CASE WHEN s.order_detail_id IS NOT NULL
      THEN format('order_id=%s qty=%s item_price=%s unit_sales=%s', s.order_id, s.qty, s.item_price, s.unit_sales) END AS staging,
    CASE WHEN f.order_detail_id IS NOT NULL
      THEN format('order_id=%s qty=%s item_price=%s unit_sales=%s', f.order_id, f.qty, f.item_price, f.unit_sales) END AS fact
  FROM staged AS s
  FULL JOIN fact AS f ON f.order_detail_id = s.order_detail_id
  WHERE s.order_detail_id IS NULL
     OR f.order_detail_id IS NULL
     OR (s.order_id, s.qty, s.item_price, s.unit_sales) IS DISTINCT FROM (f.order_id, f.qty, f.item_price, f.unit_sales)
),

-- The totals can differ only if some line does: they are computed (one scan of each side) only then.
totals AS (
  SELECT s.n AS staged_rows, s.sales AS staged_sales, f.n AS fact_rows, f.sales AS fact_sales
  FROM (SELECT count(*) AS n, coalesce(sum(unit_sales), 0) AS sales FROM staged) AS s
  CROSS JOIN (SELECT count(*) AS n, coalesce(sum(unit_sales), 0) AS sales FROM fact) AS f
  WHERE EXISTS (SELECT 1 FROM line_mismatch)
),

total_mismatch AS (
  SELECT
    NULL::bigint AS order_detail_id,
    'totals differ' AS problem,
    format('rows=%s sales=%s', staged_rows, staged_sales) AS staging,
    format('rows=%s sales=%s', fact_rows, fact_sales)     AS fact
  FROM totals
  WHERE staged_rows <> fact_rows OR staged_sales <> fact_sales
)

SELECT order_detail_id, problem, staging, fact FROM total_mismatch
UNION ALL
SELECT order_detail_id, problem, staging, fact FROM (SELECT * FROM line_mismatch ORDER BY order_detail_id) AS lines
