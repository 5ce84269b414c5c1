-- fct_transactions: grain one order line (staging.order_details), natural key order_detail_id.
--
-- order_id is a degenerate dimension. Every dimension reference resolves through a LEFT JOIN and falls
-- back to the dimension's unknown member (key -1) when the order, the customer, the product or the
-- city is missing, so an order line is never dropped: the fact always reconciles with staging
-- (row count and sum(unit_sales)), and relationship tests hold.
-- An order line whose order is missing has order_date NULL and date_key -1.
--
-- Periods: the run parameter gudang.period (src/warehouse/models.ts) is 'YYYY-MM' for a period run and ''
-- for a full refresh.
--   full refresh  the table is built from every line in staging; {{ prior }} is not read.
--   period P      the table is {{ prior }} (the last published fact) without its rows dated in P (and without any
--                 line now dated in P that sat in another month, so a moved order never counts twice), plus the
--                 staging lines dated in P. Other months are carried over as they are. Lines without an order (no
--                 date) belong to no month and are loaded by a full refresh only.
-- Either way the table is built where readers cannot see it and published only after every gate of the run
-- passed; running the same period again replaces its rows instead of adding to them.
-- The primary key is added after the rows are in (one index build instead of 1M index inserts).
--
-- test: unique(order_detail_id)
-- test: not_null(order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales)
-- test: not_null(order_date) where date_key <> -1
-- test: relationship(date_key -> ref('dim_date').date_key)
-- test: relationship(customer_key -> ref('dim_customers').customer_key)
-- test: relationship(product_key -> ref('dim_products').product_key)
-- test: relationship(location_key -> ref('dim_locations').location_key)

CREATE TABLE {{ this }} (
  order_detail_id bigint    NOT NULL,
  order_id        bigint    NOT NULL,
  date_key        integer   NOT NULL,
  customer_key    integer   NOT NULL,
  product_key     integer   NOT NULL,
  location_key    integer   NOT NULL,
  qty             bigint    NOT NULL,
  item_price      numeric   NOT NULL,
  unit_sales      numeric   NOT NULL,
  order_date      timestamp
);

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

-- import CTEs
order_details AS (
  SELECT order_detail_id, order_id, product_id, qty, item_price, unit_sales FROM {{ source('order_details') }}
),

orders AS (
  SELECT order_id, order_date, customer_id, city_id FROM {{ source('orders') }}
),

dim_date AS (
  SELECT date_key, full_date FROM {{ ref('dim_date') }} WHERE date_key <> -1
),

dim_customers AS (
  SELECT customer_key, customer_id FROM {{ ref('dim_customers') }} WHERE customer_key <> -1
),

dim_products AS (
  SELECT product_key, product_id FROM {{ ref('dim_products') }} WHERE product_key <> -1
),

dim_locations AS (
  SELECT location_key, city_id FROM {{ ref('dim_locations') }} WHERE location_key <> -1
),

-- logic CTEs (read twice in a period run: inlined, not materialised)
order_lines AS NOT MATERIALIZED (
  SELECT
    od.order_detail_id,
    od.order_id,
    o.order_date,
    o.customer_id,
    o.city_id,
    od.product_id,
    od.qty,
    od.item_price,
    od.unit_sales
  FROM order_details AS od
  LEFT JOIN orders AS o ON o.order_id = od.order_id
  CROSS JOIN run
  WHERE run.period IS NULL OR (o.order_date >= run.starts AND o.order_date < run.ends)
),

new_lines AS (
  SELECT
    l.order_detail_id,
    l.order_id,
    coalesce(d.date_key, -1)      AS date_key,
    coalesce(c.customer_key, -1)  AS customer_key,
    coalesce(p.product_key, -1)   AS product_key,
    coalesce(g.location_key, -1)  AS location_key,
    l.qty,
    l.item_price,
    l.unit_sales,
    l.order_date
  FROM order_lines AS l
  LEFT JOIN dim_date      AS d ON d.full_date   = l.order_date::date
  LEFT JOIN dim_customers AS c ON c.customer_id = l.customer_id
  LEFT JOIN dim_products  AS p ON p.product_id  = l.product_id
  LEFT JOIN dim_locations AS g ON g.city_id     = l.city_id
),

-- a period run keeps the other months of the published fact
kept_lines AS (
  SELECT
    f.order_detail_id, f.order_id, f.date_key, f.customer_key, f.product_key, f.location_key,
    f.qty, f.item_price, f.unit_sales, f.order_date
  FROM {{ prior }} AS f
  CROSS JOIN run
  WHERE run.period IS NOT NULL
    AND NOT (f.order_date >= run.starts AND f.order_date < run.ends AND f.order_date IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM order_lines AS l WHERE l.order_detail_id = f.order_detail_id)
),

final AS (
  SELECT * FROM kept_lines
  UNION ALL
  SELECT * FROM new_lines
)

INSERT INTO {{ this }} (
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
)
SELECT
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
FROM final;

ALTER TABLE {{ this }} ADD PRIMARY KEY (order_detail_id);

-- Planner statistics for the marts and the gates, which read it next.
ANALYZE {{ this }};
