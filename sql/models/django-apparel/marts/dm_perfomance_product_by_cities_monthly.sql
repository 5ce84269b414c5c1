-- dm_perfomance_product_by_cities_monthly: dm_perfomance_product_by_cities by month, so product performance by city
-- can be filtered by period (the dashboard's from/to). One row per month, city and product; the same columns as the
-- all-time mart plus `month` (the first day of the month of the order date). The all-time mart stays as it is (its
-- name and columns are what its consumers read); this one is its month grain.
-- Lines whose date is unknown (date_key -1: their order is missing) are kept with month NULL, so the mart sums
-- exactly to the fact. total_orders adds up across months: an order has one date.
-- Built in full every run: a period run reads the published fact's other months (see transactions below).
--
-- test: unique(month, city_id, product_id)
-- test: not_null(city_name, province_name, product_name, size, product_category_name, total_quantity, total_sales, total_orders)

CREATE TABLE {{ this }} (
  month                 date,
  city_id               bigint,
  city_name             text    NOT NULL,
  province_name         text    NOT NULL,
  product_id            bigint,
  product_name          text    NOT NULL,
  size                  text    NOT NULL,
  product_category_name text    NOT NULL,
  total_quantity        bigint  NOT NULL,
  total_sales           numeric NOT NULL,
  total_orders          bigint  NOT NULL
);

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

-- import CTEs
-- The fact as it will be once this run publishes: on a full refresh the fact built by this run; on a period run the
-- month built by this run ({{ ref() }} holds only that month) plus every published line of other months that the
-- month's build does not take over (a line whose order moved into the month), which is what the publish step does.
transactions AS (
  SELECT order_id, order_date, location_key, product_key, qty, unit_sales FROM {{ ref('fct_transactions') }}
  UNION ALL
  SELECT f.order_id, f.order_date, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE (SELECT period FROM run) IS NOT NULL -- a one-time filter: a full refresh skips this branch unread
    AND (f.order_date IS NULL OR f.order_date < run.starts OR f.order_date >= run.ends)
    AND NOT EXISTS (SELECT 1 FROM {{ ref('fct_transactions') }} AS n WHERE n.order_detail_id = f.order_detail_id)
),

locations AS (
  SELECT location_key, city_id, city_name, province_name FROM {{ ref('dim_locations') }}
),

products AS (
  SELECT product_key, product_id, product_name, size, product_category_name FROM {{ ref('dim_products') }}
),

-- logic CTEs
by_month_city_product AS (
  SELECT
    date_trunc('month', t.order_date)::date AS month,
    t.location_key,
    t.product_key,
    sum(t.qty)::bigint         AS total_quantity,
    sum(t.unit_sales)          AS total_sales,
    count(DISTINCT t.order_id) AS total_orders
  FROM transactions AS t
  GROUP BY 1, t.location_key, t.product_key
),

final AS (
  SELECT
    a.month,
    l.city_id,
    l.city_name,
    l.province_name,
    p.product_id,
    p.product_name,
    p.size,
    p.product_category_name,
    a.total_quantity,
    a.total_sales,
    a.total_orders
  FROM by_month_city_product AS a
  JOIN locations AS l ON l.location_key = a.location_key
  JOIN products  AS p ON p.product_key  = a.product_key
)

INSERT INTO {{ this }} (
  month, city_id, city_name, province_name, product_id, product_name, size, product_category_name,
  total_quantity, total_sales, total_orders
)
SELECT
  month, city_id, city_name, province_name, product_id, product_name, size, product_category_name,
  total_quantity, total_sales, total_orders
FROM final
ORDER BY month NULLS LAST, city_id NULLS LAST, product_id NULLS LAST;

CREATE UNIQUE INDEX ON {{ this }} (month, city_id, product_id) NULLS NOT DISTINCT;

ANALYZE {{ this }};
