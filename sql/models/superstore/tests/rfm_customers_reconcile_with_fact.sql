-- check: rfm_customers_reconcile_with_fact
-- table: superstore_mart.rfm_customers
--
-- This run's RFM snapshot (the latest as_of the run computed) reconciles with the fact: every customer with an
-- order on or before as_of is in it once, with the fact's distinct orders, sales and last order date of those
-- orders, and no one else is. Zero rows means pass.
WITH

run AS (SELECT ends FROM ops.run_period()),

as_of AS (
  SELECT coalesce(
    (run.ends - interval '1 day')::date,
    (date_trunc('month', (SELECT max(order_date) FROM {{ ref('fct_sales') }})) + interval '1 month - 1 day')::date
  ) AS as_of
  FROM run
),

fact AS (
  SELECT f.customer_id, count(DISTINCT f.order_id) AS frequency, sum(f.sales) AS monetary, a.as_of - max(f.order_date) AS recency_days
  FROM {{ ref('fct_sales') }} AS f
  CROSS JOIN as_of AS a
  WHERE f.order_date <= a.as_of AND f.customer_id IS NOT NULL
  GROUP BY f.customer_id, a.as_of
),

snapshot AS (
  SELECT r.customer_id, r.frequency, r.monetary, r.recency_days
  FROM {{ ref('rfm_customers') }} AS r
  JOIN as_of AS a ON a.as_of = r.as_of
)

SELECT coalesce(f.customer_id, s.customer_id) AS customer_id,
       format('frequency=%s monetary=%s recency_days=%s', f.frequency, f.monetary, f.recency_days) AS fact,
       format('frequency=%s monetary=%s recency_days=%s', s.frequency, s.monetary, s.recency_days) AS rfm
FROM fact AS f
FULL JOIN snapshot AS s ON s.customer_id = f.customer_id
WHERE (f.frequency, f.monetary, f.recency_days) IS DISTINCT FROM (s.frequency, s.monetary, s.recency_days)
ORDER BY 1
