-- check: dm_revenue_by_months_reconciles_with_fact
-- table: mart.dm_revenue_by_months
--
-- Recomputes revenue, orders and quantity per calendar month straight from fct_transactions.order_date
-- (not through dim_date) and compares them with the mart, month by month. Order lines without a date
-- (their order is missing from staging) cannot be placed in a month: they are reported too, so the
-- sum over the mart always equals count and sum(unit_sales) of the fact when this returns no rows.
-- After a period run (gudang.period = 'YYYY-MM') both sides are restricted to that month, the one the run loaded.
WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

fact AS (
  SELECT f.order_id, f.order_date, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

mart AS (
  SELECT m.month, m.total_revenue, m.total_orders, m.total_quantity, m.average_order_value
  FROM {{ ref('dm_revenue_by_months') }} AS m
  CROSS JOIN run
  WHERE run.period IS NULL OR m.month = run.starts::date
),

-- one scan of the fact, grouped by month only: revenue, quantity and lines summed straight from the lines, and the
-- month's distinct orders counted by count(DISTINCT), which sorts each month's order ids (issue 14: a hash of every
-- (month, order) with its numeric sums spilled to disk at 1M lines and took three times as long). The month NULL
-- collects the undated lines.
by_month AS (
  SELECT date_trunc('month', order_date)::date AS month, sum(unit_sales) AS total_revenue, count(DISTINCT order_id) AS total_orders,
         sum(qty)::bigint AS total_quantity, count(*) AS lines
  FROM fact
  GROUP BY 1
),

expected AS (
  SELECT month, total_revenue, total_orders, total_quantity FROM by_month WHERE month IS NOT NULL
),

month_mismatch AS (
  SELECT
    to_char(coalesce(e.month, m.month), 'YYYY-MM') AS month,
    format('revenue=%s orders=%s quantity=%s', e.total_revenue, e.total_orders, e.total_quantity) AS fact,
    format('revenue=%s orders=%s quantity=%s aov=%s', m.total_revenue, m.total_orders, m.total_quantity,
           m.average_order_value) AS mart
  FROM expected AS e
  FULL JOIN mart AS m ON m.month = e.month
  WHERE (e.total_revenue, e.total_orders, e.total_quantity)
        IS DISTINCT FROM (m.total_revenue, m.total_orders, m.total_quantity)
     OR m.average_order_value IS DISTINCT FROM round(m.total_revenue / nullif(m.total_orders, 0), 2)
),

undated AS (
  SELECT
    'no month' AS month,
    format('%s order lines without order_date, revenue=%s', lines, total_revenue) AS fact,
    'not in mart' AS mart
  FROM by_month
  WHERE month IS NULL
)

SELECT month, fact, mart FROM (SELECT * FROM month_mismatch ORDER BY month) AS months
UNION ALL
SELECT month, fact, mart FROM undated
