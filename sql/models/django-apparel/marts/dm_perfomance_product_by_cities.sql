-- dm_perfomance_product_by_cities (sic, the name the consumers use): one row per city and product.
-- Lines whose city or product is unknown are kept, under the unknown member: city_id / product_id NULL, names
-- 'Unknown'; so the mart sums exactly to the fact. (city_id, product_id) is unique with NULLs counted as equal.
-- It is an all-time figure, summed over the months of dm_perfomance_product_by_cities_monthly as this run builds it
-- (the same layer builds that one first): quantity and sales add up, and so do the distinct orders, since an order
-- has one date and so one month. That mart is the fact as the run will publish it, by month, city and product, so
-- this one never reads the fact's lines, in a full refresh or a period run (issue 14); its reconciliation with the
-- fact (tests/dm_perfomance_product_by_cities_reconciles_with_fact.sql) does.
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
monthly AS (
  SELECT city_id, product_id, total_quantity, total_sales, total_orders FROM {{ ref('dm_perfomance_product_by_cities_monthly') }}
),

locations AS (
  SELECT city_id, city_name, province_name FROM {{ ref('dim_locations') }}
),

products AS (
  SELECT product_id, product_name, size, product_category_name FROM {{ ref('dim_products') }}
),

-- logic CTEs: sums by (city, product) natural ids
by_city_product AS (
  SELECT
    city_id,
    product_id,
    sum(total_quantity)::bigint AS total_quantity,
    sum(total_sales)            AS total_sales,
    sum(total_orders)::bigint   AS total_orders
  FROM monthly
  GROUP BY city_id, product_id
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
