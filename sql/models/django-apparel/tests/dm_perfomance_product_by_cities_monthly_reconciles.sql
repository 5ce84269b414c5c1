-- check: dm_perfomance_product_by_cities_monthly_reconciles
-- table: mart.dm_perfomance_product_by_cities_monthly
--
-- Summed over its months, the monthly mart equals the all-time mart for every city and product: quantity, sales
-- and orders (an order has one date, so its distinct orders add up across months). One row per city and product
-- that differs, or that is in one mart only.
WITH

monthly AS (
  SELECT city_id, product_id, sum(total_quantity) AS total_quantity, sum(total_sales) AS total_sales, sum(total_orders) AS total_orders
  FROM {{ ref('dm_perfomance_product_by_cities_monthly') }}
  GROUP BY city_id, product_id
),

all_time AS (
  SELECT city_id, product_id, total_quantity, total_sales, total_orders FROM {{ ref('dm_perfomance_product_by_cities') }}
),

compared AS (
  SELECT
    coalesce(m.city_id, a.city_id) AS city_id,
    coalesce(m.product_id, a.product_id) AS product_id,
    m.total_quantity AS monthly_quantity, a.total_quantity AS all_time_quantity,
    m.total_sales AS monthly_sales, a.total_sales AS all_time_sales,
    m.total_orders AS monthly_orders, a.total_orders AS all_time_orders
  FROM monthly AS m
  -- the unknown city or product (id NULL) as -1 on both sides: a FULL JOIN needs an equality
  FULL JOIN all_time AS a ON coalesce(m.city_id, -1) = coalesce(a.city_id, -1) AND coalesce(m.product_id, -1) = coalesce(a.product_id, -1)
  WHERE m.total_quantity IS DISTINCT FROM a.total_quantity
     OR m.total_sales IS DISTINCT FROM a.total_sales
     OR m.total_orders IS DISTINCT FROM a.total_orders
)

SELECT * FROM compared ORDER BY city_id NULLS LAST, product_id NULLS LAST
