-- sales_kpi_monthly: the sales-performance dashboard's monthly figures, from every line of the fact. month is the
-- first day of the month. Measures as in sales_kpi_yearly; growth against the previous calendar month
-- (sales_mom_growth_pct) and the same month a year earlier (sales_yoy_growth_pct), NULL when that month has no sales.
--
-- test: unique(month)
-- test: not_null(month, sales, profit, orders, customers, quantity)

CREATE TABLE {{ this }} (
  month                date    PRIMARY KEY,
  sales                numeric NOT NULL,
  profit               numeric NOT NULL,
  profit_margin_pct    numeric,
  orders               bigint  NOT NULL,
  customers            bigint  NOT NULL,
  quantity             bigint  NOT NULL,
  average_order_value  numeric,
  sales_mom_growth_pct numeric,
  sales_yoy_growth_pct numeric
);

WITH

months AS (
  SELECT date_trunc('month', order_date)::date AS month, sum(sales) AS sales, sum(profit) AS profit,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers, sum(quantity) AS quantity
  FROM {{ ref('fct_sales') }}
  GROUP BY 1
)

INSERT INTO {{ this }}
SELECT
  m.month, m.sales, m.profit,
  round(100 * m.profit / nullif(m.sales, 0), 2),
  m.orders, m.customers, m.quantity,
  round(m.sales / nullif(m.orders, 0), 2),
  round(100 * (m.sales - pm.sales) / nullif(pm.sales, 0), 2),
  round(100 * (m.sales - py.sales) / nullif(py.sales, 0), 2)
FROM months AS m
LEFT JOIN months AS pm ON pm.month = (m.month - interval '1 month')::date
LEFT JOIN months AS py ON py.month = (m.month - interval '1 year')::date
ORDER BY m.month;
