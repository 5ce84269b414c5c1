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
--   full refresh  the whole table is rebuilt (delete + insert) from every line in staging.
--   period P      only the lines whose order is dated in P are replaced: the month's rows are deleted (and any
--                 line now dated in P that sat in another month, so a moved order never counts twice), then
--                 the staging lines dated in P are inserted. Other months are left as they are. Lines without
--                 an order (no date) belong to no month and are loaded by a full refresh only.
-- Either way it happens inside the runner's transaction: readers see the old contents until commit, and
-- running the same period again replaces its rows instead of adding to them.
--
-- test: unique(order_detail_id)
-- test: not_null(order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales)
-- test: not_null(order_date) where date_key <> -1
-- test: relationship(date_key -> warehouse.dim_date.date_key)
-- test: relationship(customer_key -> warehouse.dim_customers.customer_key)
-- test: relationship(product_key -> warehouse.dim_products.product_key)
-- test: relationship(location_key -> warehouse.dim_locations.location_key)

CREATE TABLE IF NOT EXISTS warehouse.fct_transactions (
  order_detail_id bigint    PRIMARY KEY,
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

CREATE INDEX IF NOT EXISTS fct_transactions_date_key_idx     ON warehouse.fct_transactions (date_key);
CREATE INDEX IF NOT EXISTS fct_transactions_customer_key_idx ON warehouse.fct_transactions (customer_key);
CREATE INDEX IF NOT EXISTS fct_transactions_product_key_idx  ON warehouse.fct_transactions (product_key);
CREATE INDEX IF NOT EXISTS fct_transactions_location_key_idx ON warehouse.fct_transactions (location_key);
CREATE INDEX IF NOT EXISTS fct_transactions_order_id_idx     ON warehouse.fct_transactions (order_id);

CREATE INDEX IF NOT EXISTS fct_transactions_order_date_idx   ON warehouse.fct_transactions (order_date);

-- the rows this run replaces: everything, or the period's month
WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

moved_into_period AS (
  SELECT od.order_detail_id
  FROM staging.order_details AS od
  JOIN staging.orders AS o ON o.order_id = od.order_id
  CROSS JOIN run
  WHERE o.order_date >= run.starts AND o.order_date < run.ends
)

DELETE FROM warehouse.fct_transactions AS f
USING run
WHERE run.period IS NULL
   OR (f.order_date >= run.starts AND f.order_date < run.ends)
   OR f.order_detail_id IN (SELECT order_detail_id FROM moved_into_period);

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

-- import CTEs
order_details AS (
  SELECT order_detail_id, order_id, product_id, qty, item_price, unit_sales FROM staging.order_details
),

orders AS (
  SELECT order_id, order_date, customer_id, city_id FROM staging.orders
),

dim_date AS (
  SELECT date_key, full_date FROM warehouse.dim_date WHERE date_key <> -1
),

dim_customers AS (
  SELECT customer_key, customer_id FROM warehouse.dim_customers WHERE customer_key <> -1
),

dim_products AS (
  SELECT product_key, product_id FROM warehouse.dim_products WHERE product_key <> -1
),

dim_locations AS (
  SELECT location_key, city_id FROM warehouse.dim_locations WHERE location_key <> -1
),

-- logic CTEs
order_lines AS (
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

final AS (
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

INSERT INTO warehouse.fct_transactions (
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
)
SELECT
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
FROM final
ORDER BY order_detail_id;

-- The table (or a month of it) was just replaced: refresh planner statistics before the marts read it.
ANALYZE warehouse.fct_transactions;
