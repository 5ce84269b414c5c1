-- rfm_segments: one row per (as_of, rfm_segment) of rfm_customers: how many customers and how much of the money
-- each segment holds, and its average recency and frequency. Shares are percentages of the as_of's totals, rounded
-- to 2 decimals, as are the averages.
--
-- test: unique(as_of, rfm_segment)
-- test: not_null(as_of, rfm_segment, customers, customers_share_pct, monetary, monetary_share_pct, avg_recency_days, avg_frequency)

CREATE TABLE {{ this }} (
  as_of               date    NOT NULL,
  rfm_segment         text    NOT NULL,
  customers           bigint  NOT NULL,
  customers_share_pct numeric NOT NULL,
  monetary            numeric NOT NULL,
  monetary_share_pct  numeric NOT NULL,
  avg_recency_days    numeric NOT NULL,
  avg_frequency       numeric NOT NULL,
  PRIMARY KEY (as_of, rfm_segment)
);

INSERT INTO {{ this }}
SELECT
  as_of,
  rfm_segment,
  count(*),
  round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY as_of), 2),
  sum(monetary),
  coalesce(round(100 * sum(monetary) / nullif(sum(sum(monetary)) OVER (PARTITION BY as_of), 0), 2), 0),
  round(avg(recency_days), 2),
  round(avg(frequency), 2)
FROM {{ ref('rfm_customers') }}
GROUP BY as_of, rfm_segment
ORDER BY as_of, rfm_segment;
