-- dm_perfomance_product_by_cities_monthly: dm_perfomance_product_by_cities by month, so product performance by city
-- can be filtered by period (the dashboard's from/to). One row per month, city and product; the same columns as the
-- all-time mart plus `month` (the first day of the month of the order date). The all-time mart stays as it is (its
-- name and columns are what its consumers read); this one is its month grain.
-- Lines whose date is unknown (date_key -1: their order is missing) are kept with month NULL, so the mart sums
-- exactly to the fact and, per city and product, to the all-time mart (singular test
-- dm_perfomance_product_by_cities_monthly_reconciles). total_orders adds up across months: an order has one date.
-- Periods, as dm_revenue_by_months: a full refresh computes every month from the fact; a period run P recomputes
-- P (the fact's P lines as of this run) and any month a line moved out of into P (its published lines minus the
-- moved ones), and keeps {{ prior }}'s rows of every other month (and of month NULL), reading one month of the fact.
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
calendar AS (
  SELECT date_key, month_start FROM {{ ref('dim_date') }}
),

locations AS (
  SELECT location_key, city_id, city_name, province_name FROM {{ ref('dim_locations') }}
),

products AS (
  SELECT product_key, product_id, product_name, size, product_category_name FROM {{ ref('dim_products') }}
),

-- a full refresh: every line of the fact; a period run: the month's lines as of this run
current_lines AS NOT MATERIALIZED (
  SELECT f.order_detail_id, f.order_id, f.date_key, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

-- period run: published lines of other months that this run moves into the month (none in a full refresh)
moved AS MATERIALIZED (
  SELECT f.order_detail_id, f.date_key
  FROM {{ published('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NOT NULL
    AND (f.order_date < run.starts OR f.order_date >= run.ends)
    AND f.order_detail_id IN (SELECT order_detail_id FROM current_lines)
),

moved_months AS (
  SELECT DISTINCT c.month_start AS month FROM moved AS m JOIN calendar AS c ON c.date_key = m.date_key WHERE c.month_start IS NOT NULL
),

-- the lines of the months a period run recomputes besides its own: published, minus the moved ones
moved_month_lines AS (
  SELECT f.order_id, f.date_key, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  JOIN calendar AS c ON c.date_key = f.date_key
  WHERE c.month_start IN (SELECT month FROM moved_months)
    AND f.order_detail_id NOT IN (SELECT order_detail_id FROM moved)
),

transactions AS (
  SELECT order_id, date_key, location_key, product_key, qty, unit_sales FROM current_lines
  UNION ALL
  SELECT order_id, date_key, location_key, product_key, qty, unit_sales FROM moved_month_lines
),

prior AS (
  SELECT month, city_id, city_name, province_name, product_id, product_name, size, product_category_name,
         total_quantity, total_sales, total_orders
  FROM {{ prior }}
),

-- logic CTEs
by_month_city_product AS (
  SELECT
    c.month_start              AS month,
    t.location_key,
    t.product_key,
    sum(t.qty)::bigint         AS total_quantity,
    sum(t.unit_sales)          AS total_sales,
    count(DISTINCT t.order_id) AS total_orders
  FROM transactions AS t
  LEFT JOIN calendar AS c ON c.date_key = t.date_key
  GROUP BY c.month_start, t.location_key, t.product_key
),

recomputed AS (
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
),

-- a period run keeps the months it did not recompute (and the lines of unknown date, month NULL)
kept AS (
  SELECT p.*
  FROM prior AS p
  CROSS JOIN run
  WHERE run.period IS NOT NULL
    AND p.month IS DISTINCT FROM run.starts::date
    AND (p.month IS NULL OR p.month NOT IN (SELECT month FROM moved_months))
),

final AS (
  SELECT * FROM recomputed
  UNION ALL
  SELECT * FROM kept
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
