-- dm_perfomance_product_by_cities (sic, the name the consumers use): one row per city and product.
-- Built from fct_transactions joined to dim_locations and dim_products. Lines whose city or product is
-- unknown are kept, under the unknown member: city_id / product_id NULL, names 'Unknown'; so the mart
-- sums exactly to the fact. (city_id, product_id) is unique with NULLs counted as equal.
-- It is an all-time figure: a full refresh sums the whole fact. A period run P changes it by what the run changed in
-- the fact, without reading other months: {{ prior }} plus the month's lines as of this run, minus the month's
-- published lines and the published lines that moved into the month; a city and product left with no order is
-- dropped. Names come from the dimensions as of this run either way. Orders are counted per month and added up,
-- which is exact because an order has one date (a line whose order moved month while others of its lines vanished
-- from the source would count that order in both months until the next full refresh).
--
-- test: unique(city_id, product_id)
-- test: not_null(city_name, province_name, product_name, size, product_category_name, total_quantity, total_sales, total_orders)

CREATE TABLE {{ this }} (
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
locations AS (
  SELECT location_key, city_id, city_name, province_name FROM {{ ref('dim_locations') }}
),

products AS (
  SELECT product_key, product_id, product_name, size, product_category_name FROM {{ ref('dim_products') }}
),

-- a full refresh: every line of the fact; a period run: the month's lines as of this run
current_lines AS NOT MATERIALIZED (
  SELECT f.order_detail_id, f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

-- period run: the published lines the run replaces (the month's, and those of other months moved into it)
replaced_lines AS (
  SELECT f.order_id, f.location_key, f.product_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NOT NULL
    AND (
      (f.order_date >= run.starts AND f.order_date < run.ends)
      OR ((f.order_date < run.starts OR f.order_date >= run.ends) AND f.order_detail_id IN (SELECT order_detail_id FROM current_lines))
    )
),

prior AS (
  SELECT city_id, product_id, total_quantity, total_sales, total_orders FROM {{ prior }}
  CROSS JOIN run
  WHERE run.period IS NOT NULL
),

-- logic CTEs: sums by (city, product) natural ids; orders counted distinct within each part
added AS (
  SELECT location_key, product_key, sum(qty)::bigint AS qty, sum(unit_sales) AS sales, count(DISTINCT order_id) AS orders
  FROM current_lines
  GROUP BY location_key, product_key
),

removed AS (
  SELECT location_key, product_key, sum(qty)::bigint AS qty, sum(unit_sales) AS sales, count(DISTINCT order_id) AS orders
  FROM replaced_lines
  GROUP BY location_key, product_key
),

changes AS (
  SELECT l.city_id, p.product_id, a.qty, a.sales, a.orders
  FROM added AS a
  JOIN locations AS l ON l.location_key = a.location_key
  JOIN products  AS p ON p.product_key  = a.product_key
  UNION ALL
  SELECT l.city_id, p.product_id, -r.qty, -r.sales, -r.orders
  FROM removed AS r
  JOIN locations AS l ON l.location_key = r.location_key
  JOIN products  AS p ON p.product_key  = r.product_key
  UNION ALL
  SELECT city_id, product_id, total_quantity, total_sales, total_orders FROM prior
),

by_city_product AS (
  SELECT
    city_id,
    product_id,
    sum(qty)::bigint    AS total_quantity,
    sum(sales)          AS total_sales,
    sum(orders)::bigint AS total_orders
  FROM changes
  GROUP BY city_id, product_id
  HAVING sum(orders) > 0
),

final AS (
  SELECT
    a.city_id,
    l.city_name,
    l.province_name,
    a.product_id,
    p.product_name,
    p.size,
    p.product_category_name,
    a.total_quantity,
    a.total_sales,
    a.total_orders
  FROM by_city_product AS a
  JOIN locations AS l ON coalesce(l.city_id, -1) = coalesce(a.city_id, -1)          -- NULL: the unknown member
  JOIN products  AS p ON coalesce(p.product_id, -1) = coalesce(a.product_id, -1)
)

INSERT INTO {{ this }} (
  city_id, city_name, province_name, product_id, product_name, size, product_category_name,
  total_quantity, total_sales, total_orders
)
SELECT
  city_id, city_name, province_name, product_id, product_name, size, product_category_name,
  total_quantity, total_sales, total_orders
FROM final
ORDER BY city_id NULLS LAST, product_id NULLS LAST;

CREATE UNIQUE INDEX ON {{ this }} (city_id, product_id) NULLS NOT DISTINCT;
CREATE INDEX ON {{ this }} (product_id);

ANALYZE {{ this }};
