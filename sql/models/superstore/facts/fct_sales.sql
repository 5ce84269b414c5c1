-- fct_sales: grain one order line of the Orders workbook, natural key row_id.
--
-- Every line points to the customer and product version valid on its order date (valid_from <= order_date <
-- valid_to). A line dated before the first version of its customer or product (a full run observes the whole
-- delivery as of its latest month) points to that first version: the earliest description known. A customer or
-- product missing from the dimensions falls back to the unknown member (-1), so a line is never dropped and the
-- fact always reconciles with staging. customer_id and product_id are kept on the line so that carried-over lines
-- are re-pointed when history is rebuilt.
--
-- Periods (run parameter gudang.period, see ops.run_period()):
--   full refresh  every line in staging; {{ prior }} is not read.
--   period P      {{ prior }} without its lines dated in P (and without any line the delivery now dates in P), plus
--                 the staging lines dated in P. Carried lines keep their date, geography and ship mode keys and are
--                 re-pointed to the versions valid on their order date.
--
-- test: unique(row_id)
-- test: not_null(row_id, order_id, order_date, ship_date, order_date_key, ship_date_key, customer_key, product_key, geography_key, ship_mode_key, sales, quantity, discount, profit)
-- test: relationship(order_date_key -> ref('dim_date').date_key)
-- test: relationship(ship_date_key -> ref('dim_date').date_key)
-- test: relationship(customer_key -> ref('dim_customer').customer_key)
-- test: relationship(product_key -> ref('dim_product').product_key)
-- test: relationship(geography_key -> ref('dim_geography').geography_key)
-- test: relationship(ship_mode_key -> ref('dim_ship_mode').ship_mode_key)

CREATE TABLE {{ this }} (
  row_id         bigint  NOT NULL,
  order_id       text    NOT NULL,
  order_date     date    NOT NULL,
  ship_date      date    NOT NULL,
  order_date_key integer NOT NULL,
  ship_date_key  integer NOT NULL,
  customer_key   integer NOT NULL,
  product_key    integer NOT NULL,
  geography_key  integer NOT NULL,
  ship_mode_key  integer NOT NULL,
  customer_id    text,
  product_id     text,
  sales          numeric NOT NULL,
  quantity       bigint  NOT NULL,
  discount       numeric NOT NULL,
  profit         numeric NOT NULL
);

WITH

run AS (SELECT period, starts::date AS starts, ends::date AS ends FROM ops.run_period()),

-- import CTEs
orders AS (
  SELECT o.*
  FROM {{ source('orders') }} AS o
  CROSS JOIN run
  WHERE run.period IS NULL OR (o.order_date >= run.starts AND o.order_date < run.ends)
),

geography AS (
  SELECT geography_key, country, region, state, city, coalesce(postal_code, '') AS postal_code
  FROM {{ ref('dim_geography') }} WHERE geography_key <> -1
),

ship_modes AS (
  SELECT ship_mode_key, ship_mode FROM {{ ref('dim_ship_mode') }} WHERE ship_mode_key <> -1
),

dates AS (
  SELECT date_key, full_date FROM {{ ref('dim_date') }} WHERE date_key <> -1
),

customers AS (
  SELECT customer_key, customer_id, valid_from, valid_to,
         valid_from = min(valid_from) OVER (PARTITION BY customer_id) AS is_first
  FROM {{ ref('dim_customer') }} WHERE customer_key <> -1
),

products AS (
  SELECT product_key, product_id, valid_from, valid_to,
         valid_from = min(valid_from) OVER (PARTITION BY product_id) AS is_first
  FROM {{ ref('dim_product') }} WHERE product_key <> -1
),

-- logic CTEs: the period's lines from staging, with their type 1 keys
delivered AS (
  SELECT
    o.row_id, o.order_id, o.order_date, o.ship_date,
    coalesce(od.date_key, -1) AS order_date_key,
    coalesce(sd.date_key, -1) AS ship_date_key,
    coalesce(g.geography_key, -1) AS geography_key,
    coalesce(m.ship_mode_key, -1) AS ship_mode_key,
    o.customer_id, o.product_id, o.sales, o.quantity, o.discount, o.profit
  FROM orders AS o
  LEFT JOIN dates AS od ON od.full_date = o.order_date
  LEFT JOIN dates AS sd ON sd.full_date = o.ship_date
  LEFT JOIN geography AS g
    ON (g.country, g.region, g.state, g.city, g.postal_code) = (o.country, o.region, o.state, o.city, coalesce(o.postal_code, ''))
  LEFT JOIN ship_modes AS m ON m.ship_mode = o.ship_mode
),

-- lines of other months, carried over from the last published fact (period runs only)
carried AS (
  SELECT
    f.row_id, f.order_id, f.order_date, f.ship_date, f.order_date_key, f.ship_date_key, f.geography_key, f.ship_mode_key,
    f.customer_id, f.product_id, f.sales, f.quantity, f.discount, f.profit
  FROM {{ prior }} AS f
  CROSS JOIN run
  WHERE (SELECT period FROM run) IS NOT NULL -- a one-time filter: a full refresh skips this branch unread
    AND NOT (f.order_date >= run.starts AND f.order_date < run.ends)
    AND NOT EXISTS (SELECT 1 FROM delivered AS d WHERE d.row_id = f.row_id)
),

lines AS (
  SELECT * FROM delivered
  UNION ALL
  SELECT * FROM carried
),

final AS (
  SELECT
    l.row_id, l.order_id, l.order_date, l.ship_date, l.order_date_key, l.ship_date_key,
    coalesce(c.customer_key, -1) AS customer_key,
    coalesce(p.product_key, -1) AS product_key,
    l.geography_key, l.ship_mode_key, l.customer_id, l.product_id, l.sales, l.quantity, l.discount, l.profit
  FROM lines AS l
  LEFT JOIN customers AS c
    ON c.customer_id = l.customer_id AND l.order_date < c.valid_to AND (l.order_date >= c.valid_from OR c.is_first)
  LEFT JOIN products AS p
    ON p.product_id = l.product_id AND l.order_date < p.valid_to AND (l.order_date >= p.valid_from OR p.is_first)
)

INSERT INTO {{ this }} (
  row_id, order_id, order_date, ship_date, order_date_key, ship_date_key, customer_key, product_key, geography_key,
  ship_mode_key, customer_id, product_id, sales, quantity, discount, profit
)
SELECT
  row_id, order_id, order_date, ship_date, order_date_key, ship_date_key, customer_key, product_key, geography_key,
  ship_mode_key, customer_id, product_id, sales, quantity, discount, profit
FROM final
ORDER BY row_id;

ALTER TABLE {{ this }} ADD PRIMARY KEY (row_id);
CREATE INDEX ON {{ this }} (order_date);
CREATE INDEX ON {{ this }} (customer_key);
CREATE INDEX ON {{ this }} (product_key);

ANALYZE {{ this }};
