-- The Superstore transform as an analyst would write it by hand for one psql session (issue 8's benchmark
-- baseline; bench/lib/superstore-baseline.ts runs it as `psql -X -v ON_ERROR_STOP=1 -f`). Written from the column
-- contracts of issue 8 and docs/superstore.md, not from the project's models.
--
-- Input: superstore_staging.orders, customers, categories (as the project's transform reads them).
-- Output: schema hb_superstore (empty when the session starts), the same tables the project builds in
-- superstore_dw and superstore_mart for a full run (no period), column for column.
-- A full run observes customers and products as of the first day of the month of the latest order, and the RFM
-- snapshot is as of the last day of that month. No validation, no gates, no publish step, no orchestration.

\timing on
\set ON_ERROR_STOP 1

\echo step:setup
CREATE SCHEMA hb_superstore;
-- the run's dates as psql variables (:'observed', :'as_of'): constants for the planner
SELECT date_trunc('month', max(order_date))::date AS observed,
       (date_trunc('month', max(order_date)) + interval '1 month - 1 day')::date AS as_of
FROM superstore_staging.orders \gset

-- ---------------------------------------------------------------------------------------------------------------
-- Dimensions

\echo step:dim_date
-- every day of every year with an order or ship date; the years as a list, so the planner knows how few they are
SELECT string_agg(y::text, ',') AS years
FROM (SELECT extract(year FROM order_date)::integer AS y FROM superstore_staging.orders
      UNION
      SELECT extract(year FROM ship_date)::integer FROM superstore_staging.orders) AS t \gset
CREATE TABLE hb_superstore.dim_date AS
SELECT -1 AS date_key, date '1900-01-01' AS full_date, 1900 AS year, 1 AS quarter, 1 AS month, 'Unknown' AS month_name,
       1 AS day, 1 AS day_of_week, false AS is_weekend
UNION ALL
SELECT (extract(year FROM d) * 10000 + extract(month FROM d) * 100 + extract(day FROM d))::integer,
       d::date, extract(year FROM d)::integer, extract(quarter FROM d)::integer, extract(month FROM d)::integer,
       to_char(d, 'FMMonth'), extract(day FROM d)::integer, extract(isodow FROM d)::integer,
       extract(isodow FROM d) IN (6, 7)
FROM unnest(ARRAY[:years]) AS y
CROSS JOIN LATERAL generate_series(make_date(y, 1, 1), make_date(y, 12, 31), interval '1 day') AS d;
ALTER TABLE hb_superstore.dim_date ADD PRIMARY KEY (date_key);

-- Type 2: close the current version of every customer whose name or segment changed, then insert a version for
-- every customer without a current one (new or just closed), in one transaction. From an empty warehouse the
-- update finds nothing; the statements are the ones a monthly run needs.
\echo step:dim_customer
BEGIN;
CREATE TABLE hb_superstore.dim_customer (
  customer_key integer PRIMARY KEY,
  customer_id text,
  customer_name text NOT NULL,
  segment text NOT NULL,
  valid_from date NOT NULL,
  valid_to date NOT NULL,
  is_current boolean NOT NULL
);
INSERT INTO hb_superstore.dim_customer VALUES (-1, NULL, 'Unknown', 'Unknown', '1900-01-01', '9999-12-31', true);
UPDATE hb_superstore.dim_customer AS d
SET valid_to = :'observed', is_current = false
FROM superstore_staging.customers AS s
WHERE d.customer_id = s.customer_id AND d.is_current
  AND (d.customer_name, d.segment) IS DISTINCT FROM (s.customer_name, s.segment);
INSERT INTO hb_superstore.dim_customer
SELECT (SELECT greatest(max(customer_key), 0) FROM hb_superstore.dim_customer) + row_number() OVER (ORDER BY s.customer_id),
       s.customer_id, s.customer_name, s.segment, :'observed', date '9999-12-31', true
FROM superstore_staging.customers AS s
WHERE NOT EXISTS (SELECT 1 FROM hb_superstore.dim_customer AS d WHERE d.customer_id = s.customer_id AND d.is_current);
CREATE INDEX ON hb_superstore.dim_customer (customer_id, valid_from);
COMMIT;
ANALYZE hb_superstore.dim_customer;

-- One row per product id and name in staging: the id's name is the one that sorts first in byte order.
\echo step:dim_product
BEGIN;
CREATE TABLE hb_superstore.dim_product (
  product_key integer PRIMARY KEY,
  product_id text,
  product_name text NOT NULL,
  category text NOT NULL,
  sub_category text NOT NULL,
  valid_from date NOT NULL,
  valid_to date NOT NULL,
  is_current boolean NOT NULL
);
INSERT INTO hb_superstore.dim_product VALUES (-1, NULL, 'Unknown', 'Unknown', 'Unknown', '1900-01-01', '9999-12-31', true);
CREATE TEMP TABLE delivered_product ON COMMIT DROP AS
SELECT DISTINCT ON (product_id) product_id, product_name, category, sub_category
FROM superstore_staging.categories
ORDER BY product_id, product_name COLLATE "C";
UPDATE hb_superstore.dim_product AS d
SET valid_to = :'observed', is_current = false
FROM delivered_product AS s
WHERE d.product_id = s.product_id AND d.is_current
  AND (d.product_name, d.category, d.sub_category) IS DISTINCT FROM (s.product_name, s.category, s.sub_category);
INSERT INTO hb_superstore.dim_product
SELECT (SELECT greatest(max(product_key), 0) FROM hb_superstore.dim_product) + row_number() OVER (ORDER BY s.product_id),
       s.product_id, s.product_name, s.category, s.sub_category, :'observed', date '9999-12-31', true
FROM delivered_product AS s
WHERE NOT EXISTS (SELECT 1 FROM hb_superstore.dim_product AS d WHERE d.product_id = s.product_id AND d.is_current);
CREATE INDEX ON hb_superstore.dim_product (product_id, valid_from);
COMMIT;
ANALYZE hb_superstore.dim_product;

\echo step:dim_geography
CREATE TABLE hb_superstore.dim_geography AS
SELECT -1 AS geography_key, 'Unknown' AS country, 'Unknown' AS region, 'Unknown' AS state, 'Unknown' AS city, NULL::text AS postal_code
UNION ALL
SELECT row_number() OVER (ORDER BY country, region, state, city, postal_code)::integer, country, region, state, city, postal_code
FROM (SELECT DISTINCT country, region, state, city, postal_code FROM superstore_staging.orders) AS g;
ALTER TABLE hb_superstore.dim_geography ADD PRIMARY KEY (geography_key);
ANALYZE hb_superstore.dim_geography;

\echo step:dim_ship_mode
CREATE TABLE hb_superstore.dim_ship_mode AS
SELECT -1 AS ship_mode_key, 'Unknown' AS ship_mode
UNION ALL
SELECT row_number() OVER (ORDER BY ship_mode)::integer, ship_mode
FROM (SELECT DISTINCT ship_mode FROM superstore_staging.orders) AS m;
ALTER TABLE hb_superstore.dim_ship_mode ADD PRIMARY KEY (ship_mode_key);
ANALYZE hb_superstore.dim_ship_mode;

-- ---------------------------------------------------------------------------------------------------------------
-- Fact: one row per order line. Customer and product: the version valid on the order date; a line dated before
-- the first version points to the first version; an id missing from the dimension to the unknown member.

\echo step:fct_sales
CREATE TABLE hb_superstore.fct_sales AS
WITH first_customer AS (
  SELECT DISTINCT ON (customer_id) customer_id, customer_key
  FROM hb_superstore.dim_customer WHERE customer_key <> -1 ORDER BY customer_id, valid_from
), first_product AS (
  SELECT DISTINCT ON (product_id) product_id, product_key
  FROM hb_superstore.dim_product WHERE product_key <> -1 ORDER BY product_id, valid_from
)
SELECT o.row_id, o.order_id, o.order_date, o.ship_date,
       (extract(year FROM o.order_date) * 10000 + extract(month FROM o.order_date) * 100 + extract(day FROM o.order_date))::integer AS order_date_key,
       (extract(year FROM o.ship_date) * 10000 + extract(month FROM o.ship_date) * 100 + extract(day FROM o.ship_date))::integer AS ship_date_key,
       coalesce(c.customer_key, fc.customer_key, -1) AS customer_key,
       coalesce(p.product_key, fp.product_key, -1) AS product_key,
       coalesce(g.geography_key, -1) AS geography_key,
       coalesce(m.ship_mode_key, -1) AS ship_mode_key,
       o.customer_id, o.product_id, o.sales, o.quantity, o.discount, o.profit
FROM superstore_staging.orders AS o
LEFT JOIN hb_superstore.dim_customer AS c
  ON c.customer_id = o.customer_id AND o.order_date >= c.valid_from AND o.order_date < c.valid_to
LEFT JOIN first_customer AS fc ON fc.customer_id = o.customer_id
LEFT JOIN hb_superstore.dim_product AS p
  ON p.product_id = o.product_id AND o.order_date >= p.valid_from AND o.order_date < p.valid_to
LEFT JOIN first_product AS fp ON fp.product_id = o.product_id
LEFT JOIN hb_superstore.dim_geography AS g
  ON g.country = o.country AND g.region = o.region AND g.state = o.state AND g.city = o.city
 AND coalesce(g.postal_code, '') = coalesce(o.postal_code, '') AND g.geography_key <> -1
LEFT JOIN hb_superstore.dim_ship_mode AS m ON m.ship_mode = o.ship_mode AND m.ship_mode_key <> -1;
ALTER TABLE hb_superstore.fct_sales ADD PRIMARY KEY (row_id);
CREATE INDEX ON hb_superstore.fct_sales (customer_key);
CREATE INDEX ON hb_superstore.fct_sales (product_key);
CREATE INDEX ON hb_superstore.fct_sales (order_date);
ANALYZE hb_superstore.fct_sales;

-- ---------------------------------------------------------------------------------------------------------------
-- Marts. orders = distinct order ids, customers = distinct customer ids; percentages and averages to 2 decimals;
-- growth against the previous calendar year / month / the same month a year before, NULL when there is none.

\echo step:sales_kpi_yearly
CREATE TABLE hb_superstore.sales_kpi_yearly AS
WITH y AS (
  SELECT extract(year FROM order_date)::integer AS year, sum(sales) AS sales, sum(profit) AS profit,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity
  FROM hb_superstore.fct_sales GROUP BY 1
)
SELECT y.year, y.sales, y.profit, round(100 * y.profit / nullif(y.sales, 0), 2) AS profit_margin_pct,
       y.orders, y.customers, y.quantity, round(y.sales / nullif(y.orders, 0), 2) AS average_order_value,
       round(100 * (y.sales - p.sales) / nullif(p.sales, 0), 2) AS sales_yoy_growth_pct,
       round(100 * (y.profit - p.profit) / nullif(abs(p.profit), 0), 2) AS profit_yoy_growth_pct
FROM y LEFT JOIN y AS p ON p.year = y.year - 1;
ALTER TABLE hb_superstore.sales_kpi_yearly ADD PRIMARY KEY (year);

\echo step:sales_kpi_monthly
CREATE TABLE hb_superstore.sales_kpi_monthly AS
WITH m AS (
  SELECT date_trunc('month', order_date)::date AS month, sum(sales) AS sales, sum(profit) AS profit,
         count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity
  FROM hb_superstore.fct_sales GROUP BY 1
)
SELECT m.month, m.sales, m.profit, round(100 * m.profit / nullif(m.sales, 0), 2) AS profit_margin_pct,
       m.orders, m.customers, m.quantity, round(m.sales / nullif(m.orders, 0), 2) AS average_order_value,
       round(100 * (m.sales - pm.sales) / nullif(pm.sales, 0), 2) AS sales_mom_growth_pct,
       round(100 * (m.sales - py.sales) / nullif(py.sales, 0), 2) AS sales_yoy_growth_pct
FROM m
LEFT JOIN m AS pm ON pm.month = (m.month - interval '1 month')::date
LEFT JOIN m AS py ON py.month = (m.month - interval '1 year')::date;
ALTER TABLE hb_superstore.sales_kpi_monthly ADD PRIMARY KEY (month);

-- Segment and category as they were on the order date (the versions the lines point to).
\echo step:sales_kpi_by_dimension
CREATE TABLE hb_superstore.sales_kpi_by_dimension AS
WITH lines AS (
  SELECT extract(year FROM f.order_date)::integer AS year, c.segment, g.region, p.category, p.sub_category, m.ship_mode,
         f.order_id, f.customer_id, f.sales, f.profit, f.quantity
  FROM hb_superstore.fct_sales AS f
  JOIN hb_superstore.dim_customer AS c USING (customer_key)
  JOIN hb_superstore.dim_product AS p USING (product_key)
  JOIN hb_superstore.dim_geography AS g USING (geography_key)
  JOIN hb_superstore.dim_ship_mode AS m USING (ship_mode_key)
)
SELECT year, 'segment' AS dimension, segment AS member, sum(sales) AS sales, sum(profit) AS profit,
       count(DISTINCT order_id) AS orders, count(DISTINCT customer_id) AS customers, sum(quantity)::bigint AS quantity
FROM lines GROUP BY year, segment
UNION ALL
SELECT year, 'region', region, sum(sales), sum(profit), count(DISTINCT order_id), count(DISTINCT customer_id), sum(quantity)::bigint
FROM lines GROUP BY year, region
UNION ALL
SELECT year, 'category', category, sum(sales), sum(profit), count(DISTINCT order_id), count(DISTINCT customer_id), sum(quantity)::bigint
FROM lines GROUP BY year, category
UNION ALL
SELECT year, 'sub_category', sub_category, sum(sales), sum(profit), count(DISTINCT order_id), count(DISTINCT customer_id), sum(quantity)::bigint
FROM lines GROUP BY year, sub_category
UNION ALL
SELECT year, 'ship_mode', ship_mode, sum(sales), sum(profit), count(DISTINCT order_id), count(DISTINCT customer_id), sum(quantity)::bigint
FROM lines GROUP BY year, ship_mode;
ALTER TABLE hb_superstore.sales_kpi_by_dimension ADD PRIMARY KEY (year, dimension, member);

-- RFM as of the last day of the latest order's month: scores 1-5 by ceil(5 * cume_dist()) from worst to best, so
-- equal values share a score; segment from the R x F map of docs/superstore.md, checked in order.
\echo step:rfm_customers
CREATE TABLE hb_superstore.rfm_customers AS
WITH per_customer AS (
  SELECT :'as_of'::date AS as_of, f.customer_id, (:'as_of'::date - max(f.order_date))::integer AS recency_days,
         count(DISTINCT f.order_id) AS frequency, sum(f.sales) AS monetary
  FROM hb_superstore.fct_sales AS f
  WHERE f.order_date <= :'as_of'
  GROUP BY f.customer_id
), scored AS (
  SELECT *, ceil(5 * cume_dist() OVER (ORDER BY recency_days DESC))::integer AS r_score,
         ceil(5 * cume_dist() OVER (ORDER BY frequency))::integer AS f_score,
         ceil(5 * cume_dist() OVER (ORDER BY monetary))::integer AS m_score
  FROM per_customer
)
SELECT s.as_of, s.customer_id, coalesce(c.customer_name, 'Unknown') AS customer_name, s.recency_days, s.frequency, s.monetary,
       s.r_score, s.f_score, s.m_score,
       CASE
         WHEN s.r_score = 5 AND s.f_score >= 4 THEN 'Champions'
         WHEN s.r_score IN (3, 4) AND s.f_score >= 4 THEN 'Loyal'
         WHEN s.r_score >= 4 AND s.f_score IN (2, 3) THEN 'Potential Loyalist'
         WHEN s.r_score = 5 AND s.f_score = 1 THEN 'New'
         WHEN s.r_score = 4 AND s.f_score = 1 THEN 'Promising'
         WHEN s.r_score = 3 AND s.f_score = 3 THEN 'Need Attention'
         WHEN s.r_score = 3 AND s.f_score <= 2 THEN 'About to Sleep'
         WHEN s.r_score <= 2 AND s.f_score = 5 THEN 'Cannot Lose Them'
         WHEN s.r_score <= 2 AND s.f_score IN (3, 4) THEN 'At Risk'
         WHEN s.r_score = 1 AND s.f_score = 1 THEN 'Lost'
         ELSE 'Hibernating'
       END AS rfm_segment
FROM scored AS s
LEFT JOIN hb_superstore.dim_customer AS c
  ON c.customer_id = s.customer_id AND s.as_of >= c.valid_from AND s.as_of < c.valid_to;
ALTER TABLE hb_superstore.rfm_customers ADD PRIMARY KEY (as_of, customer_id);
ANALYZE hb_superstore.rfm_customers;

\echo step:rfm_segments
CREATE TABLE hb_superstore.rfm_segments AS
SELECT as_of, rfm_segment, count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY as_of), 2) AS customers_share_pct,
       sum(monetary) AS monetary,
       round(100 * sum(monetary) / sum(sum(monetary)) OVER (PARTITION BY as_of), 2) AS monetary_share_pct,
       round(avg(recency_days), 2) AS avg_recency_days,
       round(avg(frequency), 2) AS avg_frequency
FROM hb_superstore.rfm_customers
GROUP BY as_of, rfm_segment;
ALTER TABLE hb_superstore.rfm_segments ADD PRIMARY KEY (as_of, rfm_segment);
