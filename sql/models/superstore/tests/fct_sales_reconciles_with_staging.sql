-- check: fct_sales_reconciles_with_staging
-- table: superstore_dw.fct_sales
--
-- Every order line of the delivery is in the fact exactly once with the same order, sales, quantity and profit,
-- and the fact holds no other line of that scope: after a period run both sides are restricted to the lines dated
-- in the period, after a full run they are everything. Zero rows means pass; the first row, when there is one,
-- compares the totals (rows, sales, profit), the rest name each row_id that differs.
WITH

run AS (SELECT period, starts::date AS starts, ends::date AS ends FROM ops.run_period()),

staged AS (
  SELECT o.row_id, o.order_id, o.sales, o.quantity, o.profit
  FROM {{ source('orders') }} AS o
  CROSS JOIN run
  WHERE run.period IS NULL OR (o.order_date >= run.starts AND o.order_date < run.ends)
),

fact AS (
  SELECT f.row_id, f.order_id, f.sales, f.quantity, f.profit
  FROM {{ ref('fct_sales') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

totals AS (
  SELECT
    (SELECT count(*) FROM staged) AS staged_rows, (SELECT coalesce(sum(sales), 0) FROM staged) AS staged_sales,
    (SELECT coalesce(sum(profit), 0) FROM staged) AS staged_profit,
    (SELECT count(*) FROM fact) AS fact_rows, (SELECT coalesce(sum(sales), 0) FROM fact) AS fact_sales,
    (SELECT coalesce(sum(profit), 0) FROM fact) AS fact_profit
)

SELECT NULL::bigint AS row_id, 'totals differ' AS problem,
       format('rows=%s sales=%s profit=%s', staged_rows, staged_sales, staged_profit) AS staging,
       format('rows=%s sales=%s profit=%s', fact_rows, fact_sales, fact_profit) AS fact
FROM totals
WHERE (staged_rows, staged_sales, staged_profit) IS DISTINCT FROM (fact_rows, fact_sales, fact_profit)
UNION ALL
SELECT * FROM (
  SELECT
    coalesce(s.row_id, f.row_id),
    CASE WHEN f.row_id IS NULL THEN 'missing from fact' WHEN s.row_id IS NULL THEN 'not in staging' ELSE 'values differ' END,
    CASE WHEN s.row_id IS NOT NULL THEN format('order_id=%s sales=%s quantity=%s profit=%s', s.order_id, s.sales, s.quantity, s.profit) END,
    CASE WHEN f.row_id IS NOT NULL THEN format('order_id=%s sales=%s quantity=%s profit=%s', f.order_id, f.sales, f.quantity, f.profit) END
  FROM staged AS s
  FULL JOIN fact AS f ON f.row_id = s.row_id
  WHERE s.row_id IS NULL OR f.row_id IS NULL
     OR (s.order_id, s.sales, s.quantity, s.profit) IS DISTINCT FROM (f.order_id, f.sales, f.quantity, f.profit)
  ORDER BY 1
) AS lines
