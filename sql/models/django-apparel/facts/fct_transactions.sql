-- fct_transactions: grain one order line (staging.order_details), natural key order_detail_id.
--
-- order_id is a degenerate dimension. Every dimension reference resolves through a LEFT JOIN and falls
-- back to the dimension's unknown member (key -1) when the order, the customer, the product or the
-- city is missing, so an order line is never dropped: the fact always reconciles with staging
-- (row count and sum(unit_sales)), and relationship tests hold.
-- An order line whose order is missing has order_date NULL and date_key -1.
--
-- Partitioned by month of order_date (src/warehouse/partition.ts): warehouse.fct_transactions_YYYYMM per month of
-- dim_date, warehouse.fct_transactions_other for lines without a date; each partition's primary key is
-- order_detail_id, added by the runner after the rows are in (one index build per partition, not 1M index inserts).
--
-- Periods: the run parameter gudang.period (src/warehouse/models.ts) is 'YYYY-MM' for a period run and ''
-- for a full refresh.
--   full refresh  every line in staging, into a new partitioned table.
--   period P      {{ this }} is that month's table only: the staging lines dated in P. Publishing swaps it in for
--                 the month's partition and deletes any line it holds from the other months (an order whose date
--                 moved into P), so a moved order never counts twice. Other months are not read or rewritten.
--                 Lines without an order (no date) belong to no month and are loaded by a full refresh only.
-- Either way the table is built where readers cannot see it and published only after every gate of the run
-- passed; running the same period again replaces its rows instead of adding to them.
--
-- partition: month(order_date) from ref('dim_date').full_date key(order_detail_id)
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
-- (read by both branches of order_lines below: NOT MATERIALIZED keeps them plain scans)
order_details AS NOT MATERIALIZED (
  SELECT order_detail_id, order_id, product_id, qty, item_price, unit_sales FROM {{ source('order_details') }}
),

orders AS NOT MATERIALIZED (
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

-- logic CTEs
-- A full refresh takes every line, its order LEFT JOINed (a line without an order is kept, undated). A period run
-- takes the month's orders first and then their lines: filtering after the LEFT JOIN joined every line with every
-- order, a hash of all orders that spilled to disk, before keeping the month (issue 14: the month's lines
-- at 1M: 0.57-0.61 s -> 0.17-0.26 s). Each branch is switched on or off once per query; both take the columns of
-- the import CTEs above.
order_lines AS (
  SELECT od.*, o.order_date, o.customer_id, o.city_id
  FROM order_details AS od
  LEFT JOIN orders AS o ON o.order_id = od.order_id
  WHERE (SELECT period FROM run) IS NULL
  UNION ALL
  SELECT od.*, o.order_date, o.customer_id, o.city_id
  FROM orders AS o
  JOIN run ON o.order_date >= run.starts AND o.order_date < run.ends
  JOIN order_details AS od ON od.order_id = o.order_id
  WHERE (SELECT period FROM run) IS NOT NULL
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
)

INSERT INTO {{ this }} (
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
)
SELECT
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
FROM new_lines;

-- Planner statistics for the marts and the gates, which read it next.
ANALYZE {{ this }};
