-- check: rfm_segments_reconcile_with_customers
-- table: superstore_mart.rfm_segments
--
-- For every as_of, rfm_segments holds each segment of rfm_customers with its customer count and monetary sum, and
-- the shares add up to 100 (within rounding: 0.1 percentage points). Zero rows means pass.
WITH

customers AS (
  SELECT as_of, rfm_segment, count(*) AS customers, sum(monetary) AS monetary
  FROM {{ ref('rfm_customers') }} GROUP BY as_of, rfm_segment
),

shares AS (
  SELECT as_of, sum(customers_share_pct) AS customers_pct, sum(monetary_share_pct) AS monetary_pct
  FROM {{ ref('rfm_segments') }} GROUP BY as_of
)

SELECT coalesce(c.as_of, s.as_of) AS as_of, coalesce(c.rfm_segment, s.rfm_segment) AS rfm_segment,
       format('customers=%s monetary=%s', c.customers, c.monetary) AS rfm_customers,
       format('customers=%s monetary=%s', s.customers, s.monetary) AS rfm_segments
FROM customers AS c
FULL JOIN {{ ref('rfm_segments') }} AS s ON s.as_of = c.as_of AND s.rfm_segment = c.rfm_segment
WHERE (c.customers, c.monetary) IS DISTINCT FROM (s.customers, s.monetary)
UNION ALL
SELECT as_of, '(all)', format('customers share %s%%', customers_pct), format('monetary share %s%%', monetary_pct)
FROM shares
WHERE abs(customers_pct - 100) > 0.1 OR abs(monetary_pct - 100) > 0.1
