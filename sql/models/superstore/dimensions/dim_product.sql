-- dim_product: products with type 2 history. One row per version of a product (natural id product_id), plus the
-- unknown member. Same history rules as dim_customer (observed, change, unchanged, rerun, late: see that file and
-- docs/superstore.md); the attributes that make a new version are product_name, category and sub_category.
--
-- Several names for one product id in one delivery (the Categories workbook has 32 such ids) is a data-quality
-- finding, not an error: the dimension takes the row whose product_name sorts first in byte order (COLLATE "C"),
-- whatever the order of the rows in the file, so the same delivery always gives the same name. Every sale of the
-- id still lands in the fact; findings.sql lists the ids and names in ops.findings and the run's summary.
--
-- test: unique(product_key)
-- test: unique(product_id, valid_from)
-- test: not_null(product_key, product_name, category, sub_category, valid_from, valid_to, is_current)
-- test: not_null(product_id) where product_key <> -1
-- test: unknown_member(product_key = -1)

CREATE TABLE {{ this }} (
  product_key  integer PRIMARY KEY,
  product_id   text,
  product_name text    NOT NULL,
  category     text    NOT NULL,
  sub_category text    NOT NULL,
  valid_from   date    NOT NULL,
  valid_to     date    NOT NULL,
  is_current   boolean NOT NULL
);

WITH

run AS (SELECT starts FROM ops.run_period()),

observed AS (
  SELECT coalesce(run.starts::date, date_trunc('month', (SELECT max(order_date) FROM {{ source('orders') }}))::date) AS valid_from
  FROM run
),

-- import CTEs: one row per product id, the first name in byte order
delivered AS (
  SELECT DISTINCT ON (product_id) product_id, product_name, category, sub_category
  FROM {{ source('categories') }}
  ORDER BY product_id, product_name COLLATE "C"
),

-- a late delivery (history or ops.partitions already hold a later month) changes nothing: {{ prior }} is copied
-- as it is and the dimension gate refuses the run with "out of order"
late AS (
  SELECT
    EXISTS (SELECT 1 FROM {{ prior }} AS p WHERE p.product_key <> -1 AND p.valid_from > o.valid_from)
    OR EXISTS (SELECT 1 FROM ops.partitions AS l
               WHERE l.dataset = 'superstore' AND l.status = 'loaded' AND l.period > to_char(o.valid_from, 'YYYY-MM')) AS is_late
  FROM observed AS o
),

-- history before this period: versions this period opened are dropped, the versions they closed are open again
kept AS (
  SELECT
    p.product_key, p.product_id, p.product_name, p.category, p.sub_category, p.valid_from,
    CASE WHEN p.valid_to = o.valid_from AND NOT l.is_late THEN DATE '9999-12-31' ELSE p.valid_to END AS valid_to
  FROM {{ prior }} AS p
  CROSS JOIN observed AS o
  CROSS JOIN late AS l
  WHERE p.product_key <> -1 AND (p.valid_from <> o.valid_from OR l.is_late)
),

-- logic CTEs
changed AS (
  SELECT d.product_id, d.product_name, d.category, d.sub_category
  FROM delivered AS d
  LEFT JOIN kept AS k ON k.product_id = d.product_id AND k.valid_to = DATE '9999-12-31'
  WHERE NOT (SELECT is_late FROM late)
    AND (k.product_key IS NULL
         OR (k.product_name, k.category, k.sub_category) IS DISTINCT FROM (d.product_name, d.category, d.sub_category))
),

unknown_member AS (
  SELECT -1 AS product_key, NULL::text AS product_id, 'Unknown' AS product_name, 'Unknown' AS category,
         'Unknown' AS sub_category, DATE '1900-01-01' AS valid_from, DATE '9999-12-31' AS valid_to
),

-- the current version of a changed product ends where its new version starts
history AS (
  SELECT
    k.product_key, k.product_id, k.product_name, k.category, k.sub_category, k.valid_from,
    CASE WHEN k.valid_to = DATE '9999-12-31' AND c.product_id IS NOT NULL THEN o.valid_from ELSE k.valid_to END AS valid_to
  FROM kept AS k
  CROSS JOIN observed AS o
  LEFT JOIN changed AS c ON c.product_id = k.product_id
),

new_versions AS (
  SELECT
    (SELECT coalesce(max(product_key), 0) FROM kept) + row_number() OVER (ORDER BY c.product_id) AS product_key,
    c.product_id, c.product_name, c.category, c.sub_category, o.valid_from, DATE '9999-12-31' AS valid_to
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

INSERT INTO {{ this }} (product_key, product_id, product_name, category, sub_category, valid_from, valid_to, is_current)
SELECT product_key, product_id, product_name, category, sub_category, valid_from, valid_to, valid_to = DATE '9999-12-31'
FROM final
ORDER BY product_key;

CREATE INDEX ON {{ this }} (product_id, valid_from);

ANALYZE {{ this }};
