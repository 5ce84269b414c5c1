-- dim_customer: customers with type 2 history. One row per version of a customer (natural id customer_id), plus
-- the unknown member. Stateful: the new table is {{ prior }} (the last published history) plus this delivery's
-- changes. The rules (docs/superstore.md):
--   observed    the delivery describes customers as of the first day of the run's period (a full run: of the
--               month of the latest order in the Orders workbook); versions it opens are valid from that day.
--   change      a customer whose name or segment differs from its current version: the current version is closed
--               (valid_to = the new valid_from, is_current false) and the new version inserted, in this one build.
--   unchanged   no new version. A customer missing from the delivery keeps its current version (never closed,
--               never duplicated). A blank customer id never gets here: the loader rejects that row.
--   rerun       versions opened by this period are rebuilt (dropped, and the versions they closed reopened), so
--               running a period again with the same files yields the same rows and keys.
--   late        a period before history already loaded (a later version, or a later month in ops.partitions)
--               changes nothing here ({{ prior }} is copied): the dimension gate
--               (tests/dim_customer_history.sql) refuses it, and nothing is published.
-- Keys: customer_key, integers drawn in (run, customer_id) order, never reused; -1 is the unknown member.
--
-- test: unique(customer_key)
-- test: unique(customer_id, valid_from)
-- test: not_null(customer_key, customer_name, segment, valid_from, valid_to, is_current)
-- test: not_null(customer_id) where customer_key <> -1
-- test: unknown_member(customer_key = -1)

CREATE TABLE {{ this }} (
  customer_key  integer PRIMARY KEY,
  customer_id   text,
  customer_name text    NOT NULL,
  segment       text    NOT NULL,
  valid_from    date    NOT NULL,
  valid_to      date    NOT NULL,
  is_current    boolean NOT NULL
);

WITH

run AS (SELECT starts FROM ops.run_period()),

observed AS (
  SELECT coalesce(run.starts::date, date_trunc('month', (SELECT max(order_date) FROM {{ source('orders') }}))::date) AS valid_from
  FROM run
),

-- import CTEs
delivered AS (
  SELECT customer_id, customer_name, segment FROM {{ source('customers') }}
),

-- a late delivery (history or ops.partitions already hold a later month) changes nothing: {{ prior }} is copied
-- as it is and the dimension gate refuses the run with "out of order"
late AS (
  SELECT
    EXISTS (SELECT 1 FROM {{ prior }} AS p WHERE p.customer_key <> -1 AND p.valid_from > o.valid_from)
    OR EXISTS (SELECT 1 FROM ops.partitions AS l
               WHERE l.dataset = 'superstore' AND l.status = 'loaded' AND l.period > to_char(o.valid_from, 'YYYY-MM')) AS is_late
  FROM observed AS o
),

-- history before this period: versions this period opened are dropped, the versions they closed are open again
kept AS (
  SELECT
    p.customer_key, p.customer_id, p.customer_name, p.segment, p.valid_from,
    CASE WHEN p.valid_to = o.valid_from AND NOT l.is_late THEN DATE '9999-12-31' ELSE p.valid_to END AS valid_to
  FROM {{ prior }} AS p
  CROSS JOIN observed AS o
  CROSS JOIN late AS l
  WHERE p.customer_key <> -1 AND (p.valid_from <> o.valid_from OR l.is_late)
),

-- logic CTEs
changed AS (
  SELECT d.customer_id, d.customer_name, d.segment
  FROM delivered AS d
  LEFT JOIN kept AS k ON k.customer_id = d.customer_id AND k.valid_to = DATE '9999-12-31'
  WHERE NOT (SELECT is_late FROM late)
    AND (k.customer_key IS NULL
         OR (k.customer_name, k.segment) IS DISTINCT FROM (d.customer_name, d.segment))
),

unknown_member AS (
  SELECT -1 AS customer_key, NULL::text AS customer_id, 'Unknown' AS customer_name, 'Unknown' AS segment,
         DATE '1900-01-01' AS valid_from, DATE '9999-12-31' AS valid_to
),

-- the current version of a changed customer ends where its new version starts
history AS (
  SELECT
    k.customer_key, k.customer_id, k.customer_name, k.segment, k.valid_from,
    CASE WHEN k.valid_to = DATE '9999-12-31' AND c.customer_id IS NOT NULL THEN o.valid_from ELSE k.valid_to END AS valid_to
  FROM kept AS k
  CROSS JOIN observed AS o
  LEFT JOIN changed AS c ON c.customer_id = k.customer_id
),

new_versions AS (
  SELECT
    (SELECT coalesce(max(customer_key), 0) FROM kept) + row_number() OVER (ORDER BY c.customer_id) AS customer_key,
    c.customer_id, c.customer_name, c.segment, o.valid_from, DATE '9999-12-31' AS valid_to
  FROM changed AS c
  CROSS JOIN observed AS o
),

final AS (
  SELECT * FROM unknown_member
  UNION ALL
  SELECT * FROM history
  UNION ALL
  SELECT * FROM new_versions
)

INSERT INTO {{ this }} (customer_key, customer_id, customer_name, segment, valid_from, valid_to, is_current)
SELECT customer_key, customer_id, customer_name, segment, valid_from, valid_to, valid_to = DATE '9999-12-31'
FROM final
ORDER BY customer_key;

CREATE INDEX ON {{ this }} (customer_id, valid_from);

ANALYZE {{ this }};
