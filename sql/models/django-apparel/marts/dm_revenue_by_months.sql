-- dm_revenue_by_months: one row per calendar month (year and month), month = its first day.
-- Built from fct_transactions joined to dim_date: lines with an unknown date (date_key -1, their
-- order is missing) have no month and are left out, which the singular test
-- dm_revenue_by_months_reconciles_with_fact reports, so revenue never silently goes missing.
-- average_order_value = total_revenue / total_orders, numeric, rounded to 2 decimals.
-- Periods: a full refresh computes every month from the fact. A period run P recomputes only the months it
-- changed: P (from the fact as of this run, whose P lines are {{ ref('fct_transactions') }}) and any month a line
-- moved out of into P (its published lines minus the moved ones); every other month is {{ prior }}'s row. So the
-- mart always equals the fact over all months, and a period run reads one month of the fact plus the moved lines.
--
-- test: unique(month)
-- test: not_null(month, total_revenue, total_orders, total_quantity, average_order_value)

CREATE TABLE {{ this }} (
  month               date    PRIMARY KEY,
  total_revenue       numeric NOT NULL,
  total_orders        bigint  NOT NULL,
  total_quantity      bigint  NOT NULL,
  average_order_value numeric NOT NULL
);

WITH

run AS (SELECT period, starts, ends FROM ops.run_period()),

-- import CTEs
calendar AS (
  SELECT date_key, month_start FROM {{ ref('dim_date') }} WHERE date_key <> -1
),

-- a full refresh: every line of the fact; a period run: the month's lines as of this run
current_lines AS NOT MATERIALIZED (
  SELECT f.order_detail_id, f.order_id, f.date_key, f.qty, f.unit_sales
  FROM {{ ref('fct_transactions') }} AS f
  CROSS JOIN run
  WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
),

-- period run: published lines of other months that this run moves into the month (none in a full
-- refresh, which skips this unread). Joined to the month's build table itself (a period run's
-- {{ ref('fct_transactions') }} holds only the month, analysed), so the planner hashes the month's keys: through
-- `current_lines`, whose filter on the `run` row hid its size, it expected one line and probed every partition's
-- index once per line (1.3 s at 1M lines). A moved line's key is one of the month's keys, so only the month's key
-- range is read, by each partition's primary key: with lines numbered in date order (as order lines usually are)
-- the other months hold none of it and cost an index probe each; otherwise this reads what a scan would.
moved AS MATERIALIZED (
  SELECT f.order_detail_id, f.date_key
  FROM {{ published('fct_transactions') }} AS f
  JOIN {{ ref('fct_transactions') }} AS n ON n.order_detail_id = f.order_detail_id
  WHERE (SELECT period FROM run) IS NOT NULL
    AND f.order_detail_id BETWEEN (SELECT min(order_detail_id) FROM {{ ref('fct_transactions') }})
                              AND (SELECT max(order_detail_id) FROM {{ ref('fct_transactions') }})
    AND (f.order_date < (SELECT starts FROM run) OR f.order_date >= (SELECT ends FROM run))
),

moved_months AS (
  SELECT DISTINCT c.month_start AS month FROM moved AS m JOIN calendar AS c ON c.date_key = m.date_key
),

-- the lines of the months a period run recomputes besides its own: published, minus the moved ones
moved_month_lines AS (
  SELECT f.order_id, f.date_key, f.qty, f.unit_sales
  FROM {{ published('fct_transactions') }} AS f
  JOIN calendar AS c ON c.date_key = f.date_key
  WHERE (SELECT period FROM run) IS NOT NULL -- a one-time filter: a full refresh skips this branch unread
    AND c.month_start IN (SELECT month FROM moved_months)
    -- an anti-join, not NOT IN: NOT IN over a set too big to hash is costed as a scan of it per line, and at 10M
    -- lines that cost made the planner join the calendar to every line by a nested loop (minutes, in a rerun)
    AND NOT EXISTS (SELECT 1 FROM moved AS m WHERE m.order_detail_id = f.order_detail_id)
),

transactions AS (
  SELECT order_id, date_key, qty, unit_sales FROM current_lines
  UNION ALL
  SELECT order_id, date_key, qty, unit_sales FROM moved_month_lines
),

prior AS (
  SELECT month, total_revenue, total_orders, total_quantity, average_order_value FROM {{ prior }}
),

-- logic CTEs
by_month AS (
  SELECT
    c.month_start                 AS month,
    sum(t.unit_sales)             AS total_revenue,
    count(DISTINCT t.order_id)    AS total_orders,
    sum(t.qty)::bigint            AS total_quantity
  FROM transactions AS t
  JOIN calendar AS c ON c.date_key = t.date_key
  GROUP BY c.month_start
),

recomputed AS (
  SELECT
    month,
    total_revenue,
    total_orders,
    total_quantity,
    round(total_revenue / nullif(total_orders, 0), 2) AS average_order_value
  FROM by_month
),

-- a period run keeps the months it did not recompute
kept AS (
  SELECT p.month, p.total_revenue, p.total_orders, p.total_quantity, p.average_order_value
  FROM prior AS p
  CROSS JOIN run
  WHERE (SELECT period FROM run) IS NOT NULL -- a one-time filter: a full refresh skips this branch unread
    AND p.month <> run.starts::date
    AND p.month NOT IN (SELECT month FROM moved_months)
),

final AS (
  SELECT * FROM recomputed
  UNION ALL
  SELECT * FROM kept
)

INSERT INTO {{ this }} (month, total_revenue, total_orders, total_quantity, average_order_value)
SELECT month, total_revenue, total_orders, total_quantity, average_order_value
FROM final
ORDER BY month;

ANALYZE {{ this }};
