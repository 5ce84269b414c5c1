-- dm_revenue_by_months: one row per calendar month (year and month), month = its first day.
-- Built from fct_transactions joined to dim_date: lines with an unknown date (date_key -1, their
-- order is missing) have no month and are left out, which the singular test
-- dm_revenue_by_months_reconciles_with_fact reports, so revenue never silently goes missing.
-- average_order_value = total_revenue / total_orders, numeric, rounded to 2 decimals.
-- Periods: every run recomputes every month from the fact as of the run (a dozen rows per year), so the
-- mart always equals the fact over all months.
--
-- test: unique(month)
-- test: not_null(month, total_revenue, total_orders, total_quantity, average_order_value)

CREATE TABLE {{ this }} (
  month               date    PRIMARY KEY,
  total_revenue       numeric NOT NULL,
  total_orders        bigint  NOT NULL,
  total_quantity      bigint  NOT NULL,
  average_order_value numeric NOT NULL
);

WITH

-- import CTEs
transactions AS (
  SELECT order_id, date_key, qty, unit_sales FROM {{ ref('fct_transactions') }}
),

calendar AS (
  SELECT date_key, month_start FROM {{ ref('dim_date') }} WHERE date_key <> -1
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
)

INSERT INTO {{ this }} (month, total_revenue, total_orders, total_quantity, average_order_value)
SELECT month, total_revenue, total_orders, total_quantity, average_order_value
FROM final
ORDER BY month;

ANALYZE {{ this }};
