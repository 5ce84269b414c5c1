-- check: sales_kpis_reconcile_with_fact
-- table: superstore_mart.sales_kpi_yearly
--
-- Every KPI mart reconciles with the fact: each year of sales_kpi_yearly and each month of sales_kpi_monthly has
-- the fact's sales, profit, quantity, distinct orders and distinct customers of that year or month (and no year or
-- month is missing or extra); in sales_kpi_by_dimension, for every year, each of the five dimensions' members add
-- up to the year's sales, profit and quantity. Zero rows means pass; each row names the mart, the bucket and both
-- sides.
WITH

fact AS (
  SELECT order_date, order_id, customer_id, sales, profit, quantity FROM {{ ref('fct_sales') }}
),

fact_years AS (
  SELECT extract(year FROM order_date)::integer AS year, sum(sales) AS sales, sum(profit) AS profit, sum(quantity) AS quantity,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers
  FROM fact GROUP BY 1
),

fact_months AS (
  SELECT date_trunc('month', order_date)::date AS month, sum(sales) AS sales, sum(profit) AS profit, sum(quantity) AS quantity,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers
  FROM fact GROUP BY 1
),

by_dimension AS (
  SELECT year, dimension, sum(sales) AS sales, sum(profit) AS profit, sum(quantity) AS quantity
  FROM {{ ref('sales_kpi_by_dimension') }} GROUP BY year, dimension
),

dimension_names AS (
  SELECT unnest(ARRAY['segment', 'region', 'category', 'sub_category', 'ship_mode']) AS dimension
)

SELECT 'sales_kpi_yearly' AS mart, coalesce(f.year, m.year)::text AS bucket,
       format('sales=%s profit=%s quantity=%s orders=%s customers=%s', f.sales, f.profit, f.quantity, f.orders, f.customers) AS fact,
       format('sales=%s profit=%s quantity=%s orders=%s customers=%s', m.sales, m.profit, m.quantity, m.orders, m.customers) AS mart_figures
FROM fact_years AS f
FULL JOIN {{ ref('sales_kpi_yearly') }} AS m ON m.year = f.year
WHERE (f.sales, f.profit, f.quantity, f.orders, f.customers) IS DISTINCT FROM (m.sales, m.profit, m.quantity, m.orders, m.customers)
UNION ALL
SELECT 'sales_kpi_monthly', coalesce(f.month, m.month)::text,
       format('sales=%s profit=%s quantity=%s orders=%s customers=%s', f.sales, f.profit, f.quantity, f.orders, f.customers),
       format('sales=%s profit=%s quantity=%s orders=%s customers=%s', m.sales, m.profit, m.quantity, m.orders, m.customers)
FROM fact_months AS f
FULL JOIN {{ ref('sales_kpi_monthly') }} AS m ON m.month = f.month
WHERE (f.sales, f.profit, f.quantity, f.orders, f.customers) IS DISTINCT FROM (m.sales, m.profit, m.quantity, m.orders, m.customers)
UNION ALL
SELECT 'sales_kpi_by_dimension', format('%s %s', f.year, n.dimension),
       format('sales=%s profit=%s quantity=%s', f.sales, f.profit, f.quantity),
       format('sales=%s profit=%s quantity=%s', d.sales, d.profit, d.quantity)
FROM fact_years AS f
CROSS JOIN dimension_names AS n
LEFT JOIN by_dimension AS d ON d.year = f.year AND d.dimension = n.dimension
WHERE (f.sales, f.profit, f.quantity) IS DISTINCT FROM (d.sales, d.profit, d.quantity)
