-- dm_revenue_by_months: one row per calendar month (year and month), month = its first day.
-- Built from fct_transactions joined to dim_date: lines with an unknown date (date_key -1, their
-- order is missing) have no month and are left out, which the singular test
-- dm_revenue_by_months_reconciles_with_fact reports, so revenue never silently goes missing.
-- average_order_value = total_revenue / total_orders, numeric, rounded to 2 decimals.
-- Periods: every run recomputes the months from the fact and writes only the months that differ: after a
-- period run that is the period's row (replaced with the month's new totals), plus any month whose lines
-- moved in or out of the fact; months the fact no longer has are deleted. So the mart always equals the
-- fact over all months, and months that did not change are not rewritten.
--
-- test: unique(month)
-- test: not_null(month, total_revenue, total_orders, total_quantity, average_order_value)

CREATE TABLE IF NOT EXISTS mart.dm_revenue_by_months (
  month               date    PRIMARY KEY,
  total_revenue       numeric NOT NULL,
  total_orders        bigint  NOT NULL,
  total_quantity      bigint  NOT NULL,
  average_order_value numeric NOT NULL
);

WITH

-- import CTEs
transactions AS (
  SELECT order_id, date_key, qty, unit_sales FROM warehouse.fct_transactions
),

calendar AS (
  SELECT date_key, month_start FROM warehouse.dim_date WHERE date_key <> -1
),

-- logic CTEs
by_month AS (
  SELECT
    c.month_start                 AS month,
    sum(t.unit_sales)             AS total_revenue,
    count(DISTINCT t.order_id)    AS total_orders,
    sum(t.qty)::bigint            AS total_quantity
  FROM transactions AS t
  JOIN calendar AS c ON c.date_key = t.date_key
  GROUP BY c.month_start
),

final AS (
  SELECT
    month,
    total_revenue,
    total_orders,
    total_quantity,
    round(total_revenue / nullif(total_orders, 0), 2) AS average_order_value
  FROM by_month
),

-- months without a line in the fact any more
removed AS (
  DELETE FROM mart.dm_revenue_by_months AS m
  WHERE NOT EXISTS (SELECT 1 FROM final AS f WHERE f.month = m.month)
  RETURNING m.month
)

INSERT INTO mart.dm_revenue_by_months AS m (month, total_revenue, total_orders, total_quantity, average_order_value)
SELECT month, total_revenue, total_orders, total_quantity, average_order_value
FROM final
ORDER BY month
ON CONFLICT (month) DO UPDATE SET
  total_revenue = EXCLUDED.total_revenue, total_orders = EXCLUDED.total_orders,
  total_quantity = EXCLUDED.total_quantity, average_order_value = EXCLUDED.average_order_value
WHERE (m.total_revenue, m.total_orders, m.total_quantity, m.average_order_value)
  IS DISTINCT FROM (EXCLUDED.total_revenue, EXCLUDED.total_orders, EXCLUDED.total_quantity, EXCLUDED.average_order_value);

ANALYZE mart.dm_revenue_by_months;
