-- orphans: order lines whose order, customer, product or city is not in the source files. They are loaded, not
-- dropped: the fact points them at the dimension's unknown member (key -1). This report says how many and which.
-- Run it after a pipeline run: psql "$DATABASE_URL" -f sql/checks/django-apparel/orphans.sql
-- One row per missing reference that occurs: reference, order_lines, the first few order_detail_ids.

SELECT
  reference,
  count(*)::bigint                                          AS order_lines,
  (array_agg(order_detail_id ORDER BY order_detail_id))[1:5] AS sample_order_detail_ids
FROM (
  SELECT order_detail_id, 'order (or its date)' AS reference FROM warehouse.fct_transactions WHERE date_key = -1
  UNION ALL
  SELECT order_detail_id, 'customer' FROM warehouse.fct_transactions WHERE customer_key = -1
  UNION ALL
  SELECT order_detail_id, 'product' FROM warehouse.fct_transactions WHERE product_key = -1
  UNION ALL
  SELECT order_detail_id, 'city' FROM warehouse.fct_transactions WHERE location_key = -1
) AS orphans
GROUP BY reference
ORDER BY reference;
