-- dm_perfomance_product_by_cities (sic, the name the consumers use): one row per city and product.
-- Built from fct_transactions joined to dim_locations and dim_products. Lines whose city or product is
-- unknown are kept, under the unknown member: city_id / product_id NULL, names 'Unknown'; so the mart
-- sums exactly to the fact. (city_id, product_id) is unique with NULLs counted as equal.
-- Built in full every run, after a period run too: it is an all-time figure, so it always sums the whole
-- fact as of this run, every month loaded so far.
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

-- import CTEs
transactions AS (
  SELECT order_id, location_key, product_key, qty, unit_sales FROM {{ ref('fct_transactions') }}
),

locations AS (
  SELECT location_key, city_id, city_name, province_name FROM {{ ref('dim_locations') }}
),

products AS (
  SELECT product_key, product_id, product_name, size, product_category_name FROM {{ ref('dim_products') }}
),

-- logic CTEs
by_city_product AS (
  SELECT
    location_key,
    product_key,
    sum(qty)::bigint           AS total_quantity,
    sum(unit_sales)            AS total_sales,
    count(DISTINCT order_id)   AS total_orders
  FROM transactions
  GROUP BY location_key, product_key
),

final AS (
  SELECT
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
  FROM by_city_product AS a
  JOIN locations AS l ON l.location_key = a.location_key
  JOIN products  AS p ON p.product_key  = a.product_key
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
