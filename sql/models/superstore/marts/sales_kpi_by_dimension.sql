-- sales_kpi_by_dimension: yearly figures per member of one dimension, for the dashboard's breakdowns.
--   dimension  'segment' (the customer's segment on the order date: the version the line points to),
--              'region', 'category', 'sub_category' (the product's, on the order date) or 'ship_mode'
--   member     the value, e.g. 'Consumer'
-- For each (year, dimension) the members add up to the year's sales, profit and quantity in sales_kpi_yearly;
-- orders and customers are distinct counts within the member (an order may span several categories).
--
-- test: unique(year, dimension, member)
-- test: not_null(year, dimension, member, sales, profit, orders, customers, quantity)

CREATE TABLE {{ this }} (
  year      integer NOT NULL,
  dimension text    NOT NULL,
  member    text    NOT NULL,
  sales     numeric NOT NULL,
  profit    numeric NOT NULL,
  orders    bigint  NOT NULL,
  customers bigint  NOT NULL,
  quantity  bigint  NOT NULL,
  PRIMARY KEY (year, dimension, member)
);

WITH

lines AS (
  SELECT
    extract(year FROM f.order_date)::integer AS year,
    f.order_id, f.customer_id, f.sales, f.profit, f.quantity,
    c.segment, g.region, p.category, p.sub_category, m.ship_mode
  FROM {{ ref('fct_sales') }} AS f
  JOIN {{ ref('dim_customer') }} AS c ON c.customer_key = f.customer_key
  JOIN {{ ref('dim_product') }} AS p ON p.product_key = f.product_key
  JOIN {{ ref('dim_geography') }} AS g ON g.geography_key = f.geography_key
  JOIN {{ ref('dim_ship_mode') }} AS m ON m.ship_mode_key = f.ship_mode_key
),

members AS (
  SELECT l.year, d.dimension, d.member, l.order_id, l.customer_id, l.sales, l.profit, l.quantity
  FROM lines AS l
  CROSS JOIN LATERAL (VALUES
    ('segment', l.segment), ('region', l.region), ('category', l.category),
    ('sub_category', l.sub_category), ('ship_mode', l.ship_mode)
  ) AS d (dimension, member)
)

INSERT INTO {{ this }}
SELECT year, dimension, member, sum(sales), sum(profit), count(DISTINCT order_id), count(DISTINCT customer_id), sum(quantity)
FROM members
GROUP BY year, dimension, member
ORDER BY year, dimension, member;
