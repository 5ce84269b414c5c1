-- sales_kpi_yearly: the sales-performance dashboard's yearly figures, from every line of the fact.
--   orders               distinct order_id; customers: distinct customer_id (not versions)
--   profit_margin_pct    100 * profit / sales
--   average_order_value  sales / orders
--   *_yoy_growth_pct     100 * (this year - previous year) / previous year (profit: / |previous year's profit|, so
--                        a loss turning into a profit reads as growth); NULL for the first year, or when the
--                        previous calendar year has no sales
-- Percentages and the average are rounded to 2 decimals; sums are exact.
--
-- test: unique(year)
-- test: not_null(year, sales, profit, orders, customers, quantity)

CREATE TABLE {{ this }} (
  year                  integer PRIMARY KEY,
  sales                 numeric NOT NULL,
  profit                numeric NOT NULL,
  profit_margin_pct     numeric,
  orders                bigint  NOT NULL,
  customers             bigint  NOT NULL,
  quantity              bigint  NOT NULL,
  average_order_value   numeric,
  sales_yoy_growth_pct  numeric,
  profit_yoy_growth_pct numeric
);

WITH

fact AS (
  SELECT extract(year FROM order_date)::integer AS year, order_id, customer_id, sales, profit, quantity
  FROM {{ ref('fct_sales') }}
),

years AS (
  SELECT year, sum(sales) AS sales, sum(profit) AS profit, count(DISTINCT order_id) AS orders,
         count(DISTINCT customer_id) AS customers, sum(quantity) AS quantity
  FROM fact
  GROUP BY year
)

INSERT INTO {{ this }}
SELECT
  y.year, y.sales, y.profit,
  round(100 * y.profit / nullif(y.sales, 0), 2),
  y.orders, y.customers, y.quantity,
  round(y.sales / nullif(y.orders, 0), 2),
  round(100 * (y.sales - p.sales) / nullif(p.sales, 0), 2),
  round(100 * (y.profit - p.profit) / nullif(abs(p.profit), 0), 2)
FROM years AS y
LEFT JOIN years AS p ON p.year = y.year - 1
ORDER BY y.year;
