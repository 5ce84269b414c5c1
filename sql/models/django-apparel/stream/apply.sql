-- stream/apply: one micro-batch of the real-time stream (src/stream/), after its changes are in staging.
--
-- Input: the temporary table stream_affected(order_id), every order the batch touched (its orders row, or any of its
-- lines, before or after the change). Each affected order is rebuilt whole: its fact rows are replaced by its lines
-- in staging, and both marts move by the difference between the order's contributions after and before. Both marts
-- sum over orders (count(DISTINCT order_id) included: an order is in one month, and its lines are all here or all
-- gone), so adding that difference gives exactly what the batch models compute from the whole fact.
-- Runs in the stream's transaction, under SHARE ROW EXCLUSIVE locks on the fact and the marts so a concurrent
-- model build and the stream take turns.

LOCK TABLE warehouse.fct_transactions, mart.dm_revenue_by_months, mart.dm_perfomance_product_by_cities,
  mart.dm_perfomance_product_by_cities_monthly IN SHARE ROW EXCLUSIVE MODE;

-- the years of new order dates (dim_date only ever gains whole years)
WITH years AS (
  SELECT DISTINCT extract(year FROM o.order_date)::integer AS year
  FROM staging.orders o JOIN stream_affected a USING (order_id)
  WHERE o.order_date IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM warehouse.dim_date d WHERE d.year = extract(year FROM o.order_date)::integer)
),
days AS (
  SELECT g::date AS full_date FROM years y
  CROSS JOIN LATERAL generate_series(make_date(y.year, 1, 1), make_date(y.year, 12, 31), interval '1 day') AS g
)
INSERT INTO warehouse.dim_date (date_key, full_date, year, quarter, quarter_name, month, month_name, month_short, year_month,
                                month_start, day, day_of_week, day_name, day_of_year, iso_week, is_weekend)
SELECT to_char(full_date, 'YYYYMMDD')::integer, full_date, extract(year FROM full_date)::integer,
       extract(quarter FROM full_date)::integer, 'Q' || extract(quarter FROM full_date)::integer,
       extract(month FROM full_date)::integer, to_char(full_date, 'FMMonth'), to_char(full_date, 'Mon'),
       to_char(full_date, 'YYYY-MM'), date_trunc('month', full_date)::date, extract(day FROM full_date)::integer,
       extract(isodow FROM full_date)::integer, to_char(full_date, 'FMDay'), extract(doy FROM full_date)::integer,
       extract(week FROM full_date)::integer, extract(isodow FROM full_date) IN (6, 7)
FROM days
ON CONFLICT (date_key) DO NOTHING;

CREATE TEMPORARY TABLE stream_before ON COMMIT DROP AS
SELECT f.order_id, f.date_key, f.location_key, f.product_key, f.qty, f.unit_sales
FROM warehouse.fct_transactions f JOIN stream_affected a USING (order_id);

DELETE FROM warehouse.fct_transactions f USING stream_affected a WHERE f.order_id = a.order_id;

INSERT INTO warehouse.fct_transactions (
  order_detail_id, order_id, date_key, customer_key, product_key, location_key, qty, item_price, unit_sales, order_date
)
SELECT od.order_detail_id, od.order_id,
       coalesce(d.date_key, -1), coalesce(c.customer_key, -1), coalesce(p.product_key, -1), coalesce(g.location_key, -1),
       od.qty, od.item_price, od.unit_sales, o.order_date
FROM staging.order_details od
JOIN stream_affected a ON a.order_id = od.order_id
LEFT JOIN staging.orders o ON o.order_id = od.order_id
LEFT JOIN warehouse.dim_date d ON d.full_date = o.order_date::date AND d.date_key <> -1
LEFT JOIN warehouse.dim_customers c ON c.customer_id = o.customer_id AND c.customer_key <> -1
LEFT JOIN warehouse.dim_products p ON p.product_id = od.product_id AND p.product_key <> -1
LEFT JOIN warehouse.dim_locations g ON g.city_id = o.city_id AND g.location_key <> -1;

CREATE TEMPORARY TABLE stream_delta ON COMMIT DROP AS
SELECT order_id, date_key, location_key, product_key, sum(qty)::bigint AS qty, sum(unit_sales) AS sales, sign AS sign
FROM (
  SELECT order_id, date_key, location_key, product_key, qty, unit_sales, 1 AS sign
  FROM warehouse.fct_transactions f JOIN stream_affected a USING (order_id)
  UNION ALL
  SELECT order_id, date_key, location_key, product_key, qty, unit_sales, -1 FROM stream_before
) x
GROUP BY order_id, date_key, location_key, product_key, sign;

-- dm_revenue_by_months: per month, revenue, quantity and orders after minus before
WITH by_month AS (
  SELECT c.month_start AS month,
         sum(sign * sales) AS revenue,
         sum(sign * qty)::bigint AS quantity,
         (count(DISTINCT order_id) FILTER (WHERE sign = 1) - count(DISTINCT order_id) FILTER (WHERE sign = -1))::bigint AS orders
  FROM stream_delta s JOIN warehouse.dim_date c ON c.date_key = s.date_key AND c.date_key <> -1
  GROUP BY c.month_start
)
INSERT INTO mart.dm_revenue_by_months AS m (month, total_revenue, total_orders, total_quantity, average_order_value)
SELECT month, revenue, orders, quantity, coalesce(round(revenue / nullif(orders, 0), 2), 0) FROM by_month
ON CONFLICT (month) DO UPDATE SET
  total_revenue = m.total_revenue + EXCLUDED.total_revenue,
  total_orders = m.total_orders + EXCLUDED.total_orders,
  total_quantity = m.total_quantity + EXCLUDED.total_quantity,
  average_order_value = coalesce(round((m.total_revenue + EXCLUDED.total_revenue) / nullif(m.total_orders + EXCLUDED.total_orders, 0), 2), 0);

DELETE FROM mart.dm_revenue_by_months WHERE total_orders <= 0;

-- dm_perfomance_product_by_cities: per city and product, the same differences
WITH by_pair AS (
  SELECT location_key, product_key,
         sum(sign * qty)::bigint AS quantity,
         sum(sign * sales) AS sales,
         (count(DISTINCT order_id) FILTER (WHERE sign = 1) - count(DISTINCT order_id) FILTER (WHERE sign = -1))::bigint AS orders
  FROM stream_delta GROUP BY location_key, product_key
)
INSERT INTO mart.dm_perfomance_product_by_cities AS m (
  city_id, city_name, province_name, product_id, product_name, size, product_category_name, total_quantity, total_sales, total_orders
)
SELECT l.city_id, l.city_name, l.province_name, p.product_id, p.product_name, p.size, p.product_category_name, b.quantity, b.sales, b.orders
FROM by_pair b
JOIN warehouse.dim_locations l ON l.location_key = b.location_key
JOIN warehouse.dim_products p ON p.product_key = b.product_key
ON CONFLICT (city_id, product_id) DO UPDATE SET
  total_quantity = m.total_quantity + EXCLUDED.total_quantity,
  total_sales = m.total_sales + EXCLUDED.total_sales,
  total_orders = m.total_orders + EXCLUDED.total_orders;

DELETE FROM mart.dm_perfomance_product_by_cities WHERE total_orders <= 0;

-- dm_perfomance_product_by_cities_monthly: per month, city and product, the same differences (month NULL for a line
-- whose date is unknown, as the model keeps it)
WITH by_month_pair AS (
  SELECT c.month_start AS month, s.location_key, s.product_key,
         sum(sign * qty)::bigint AS quantity,
         sum(sign * sales) AS sales,
         (count(DISTINCT order_id) FILTER (WHERE sign = 1) - count(DISTINCT order_id) FILTER (WHERE sign = -1))::bigint AS orders
  FROM stream_delta s LEFT JOIN warehouse.dim_date c ON c.date_key = s.date_key
  GROUP BY c.month_start, s.location_key, s.product_key
)
INSERT INTO mart.dm_perfomance_product_by_cities_monthly AS m (
  month, city_id, city_name, province_name, product_id, product_name, size, product_category_name, total_quantity, total_sales, total_orders
)
SELECT b.month, l.city_id, l.city_name, l.province_name, p.product_id, p.product_name, p.size, p.product_category_name, b.quantity, b.sales, b.orders
FROM by_month_pair b
JOIN warehouse.dim_locations l ON l.location_key = b.location_key
JOIN warehouse.dim_products p ON p.product_key = b.product_key
ON CONFLICT (month, city_id, product_id) DO UPDATE SET
  total_quantity = m.total_quantity + EXCLUDED.total_quantity,
  total_sales = m.total_sales + EXCLUDED.total_sales,
  total_orders = m.total_orders + EXCLUDED.total_orders;

DELETE FROM mart.dm_perfomance_product_by_cities_monthly WHERE total_orders <= 0;
