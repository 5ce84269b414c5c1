-- rfm_customers: the RFM customer-segmentation dashboard, one snapshot per as_of (stateful: the snapshots of other
-- as_of dates are carried over from {{ prior }}, this run's as_of is (re)computed, so segments can be followed
-- month by month).
--   as_of          a period run: the last day of its period; a full run: the last day of the month of the latest
--                  order in the fact
--   counted        the fact's lines with order_date <= as_of; customers with none are not in the snapshot
--   recency_days   as_of - the customer's last order date
--   frequency      distinct orders; monetary: sum of sales
--   r/f/m_score    1 to 5 by quintile, 5 best: ceil(5 * cume_dist()) over the customers ordered from worst to best
--                  (recency descending, frequency and monetary ascending), so equal values share a score
--   rfm_segment    the standard recency x frequency map (docs/superstore.md):
--                    R 5, F 4-5 Champions          R 3-4, F 4-5 Loyal           R 4-5, F 2-3 Potential Loyalist
--                    R 5, F 1   New                R 4, F 1     Promising       R 3, F 3     Need Attention
--                    R 3, F 1-2 About to Sleep     R 1-2, F 3-4 At Risk         R 1-2, F 5   Cannot Lose Them
--                    R 1-2, F 1-2 Hibernating (R 1, F 1: Lost)
-- customer_id is the natural id; customer_name is the one valid on as_of (a customer's versions are one customer).
--
-- test: unique(as_of, customer_id)
-- test: not_null(as_of, customer_id, customer_name, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment)

CREATE TABLE {{ this }} (
  as_of         date    NOT NULL,
  customer_id   text    NOT NULL,
  customer_name text    NOT NULL,
  recency_days  integer NOT NULL,
  frequency     bigint  NOT NULL,
  monetary      numeric NOT NULL,
  r_score       integer NOT NULL,
  f_score       integer NOT NULL,
  m_score       integer NOT NULL,
  rfm_segment   text    NOT NULL,
  PRIMARY KEY (as_of, customer_id)
);

WITH

run AS (SELECT ends FROM ops.run_period()),

as_of AS (
  SELECT coalesce(
    (run.ends - interval '1 day')::date,
    (date_trunc('month', (SELECT max(order_date) FROM {{ ref('fct_sales') }})) + interval '1 month - 1 day')::date
  ) AS as_of
  FROM run
),

customers AS (
  SELECT f.customer_id, max(f.order_date) AS last_order, count(DISTINCT f.order_id) AS frequency, sum(f.sales) AS monetary
  FROM {{ ref('fct_sales') }} AS f
  CROSS JOIN as_of AS a
  WHERE f.order_date <= a.as_of AND f.customer_id IS NOT NULL
  GROUP BY f.customer_id
),

scored AS (
  SELECT
    c.customer_id, a.as_of, (a.as_of - c.last_order) AS recency_days, c.frequency, c.monetary,
    ceil(5 * cume_dist() OVER (ORDER BY a.as_of - c.last_order DESC))::integer AS r_score,
    ceil(5 * cume_dist() OVER (ORDER BY c.frequency))::integer AS f_score,
    ceil(5 * cume_dist() OVER (ORDER BY c.monetary))::integer AS m_score
  FROM customers AS c
  CROSS JOIN as_of AS a
),

names AS (
  SELECT DISTINCT ON (d.customer_id) d.customer_id, d.customer_name
  FROM {{ ref('dim_customer') }} AS d
  CROSS JOIN as_of AS a
  WHERE d.customer_key <> -1
  ORDER BY d.customer_id, (a.as_of >= d.valid_from AND a.as_of < d.valid_to) DESC, d.valid_from
),

snapshot AS (
  SELECT
    s.as_of, s.customer_id, coalesce(n.customer_name, 'Unknown') AS customer_name, s.recency_days, s.frequency, s.monetary,
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
      WHEN s.r_score <= 2 AND s.f_score >= 3 THEN 'At Risk'
      WHEN s.r_score = 1 AND s.f_score = 1 THEN 'Lost'
      ELSE 'Hibernating'
    END AS rfm_segment
  FROM scored AS s
  LEFT JOIN names AS n ON n.customer_id = s.customer_id
)

INSERT INTO {{ this }}
SELECT p.as_of, p.customer_id, p.customer_name, p.recency_days, p.frequency, p.monetary, p.r_score, p.f_score, p.m_score, p.rfm_segment
FROM {{ prior }} AS p
WHERE p.as_of <> (SELECT as_of FROM as_of)
UNION ALL
SELECT * FROM snapshot
ORDER BY 1, 2;
