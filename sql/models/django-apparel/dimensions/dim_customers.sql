-- dim_customers: one row per customer (natural id customer_id) plus the unknown member.
--
-- Stateful: the new table is {{ prior }} (the last published version) plus this delivery's changes.
-- Surrogate key: customer_key, assigned once when a customer is first seen and never renumbered: a customer
-- already in {{ prior }} keeps its key and takes the delivered attributes; a new customer gets the next key
-- (max key so far + 1, in customer_id order). A rerun over the same staging produces the same rows.
-- Unknown member: customer_key = -1, customer_id NULL, names 'Unknown'. Facts whose customer is missing
-- from staging point at it.
-- History: a customer that disappears from staging.customers is kept (with its last known attributes),
-- so facts already attributed to it keep resolving and its key is never reused.
--
-- test: unique(customer_key)
-- test: unique(customer_id)
-- test: not_null(customer_key, first_name, full_name, gender)
-- test: not_null(customer_id) where customer_key <> -1
-- test: unknown_member(customer_key = -1)

CREATE TABLE {{ this }} (
  customer_key integer PRIMARY KEY,
  customer_id  bigint UNIQUE,
  first_name   text NOT NULL,
  last_name    text,
  full_name    text NOT NULL,
  gender       text NOT NULL
);

WITH

-- import CTEs
customers AS (
  SELECT customer_id, first_name, last_name, gender FROM {{ source('customers') }}
),

prior AS (
  SELECT customer_key, customer_id, first_name, last_name, full_name, gender FROM {{ prior }} WHERE customer_key <> -1
),

-- logic CTEs
delivered AS (
  SELECT
    customer_id,
    first_name,
    nullif(last_name, '')                                   AS last_name,
    concat_ws(' ', first_name, nullif(last_name, ''))       AS full_name,
    coalesce(nullif(gender, ''), 'Unknown')                 AS gender
  FROM customers
),

unknown_member AS (
  SELECT -1 AS customer_key, NULL::bigint AS customer_id, 'Unknown' AS first_name, NULL::text AS last_name,
         'Unknown' AS full_name, 'Unknown' AS gender
),

-- known members keep their key; the delivery's attributes win, a customer missing from it keeps its last ones
known AS (
  SELECT
    p.customer_key,
    p.customer_id,
    CASE WHEN d.customer_id IS NULL THEN p.first_name ELSE d.first_name END AS first_name,
    CASE WHEN d.customer_id IS NULL THEN p.last_name  ELSE d.last_name  END AS last_name,
    CASE WHEN d.customer_id IS NULL THEN p.full_name  ELSE d.full_name  END AS full_name,
    CASE WHEN d.customer_id IS NULL THEN p.gender     ELSE d.gender     END AS gender
  FROM prior AS p
  LEFT JOIN delivered AS d ON d.customer_id = p.customer_id
),

-- new members: the next keys, in customer_id order
new_members AS (
  SELECT
    (SELECT coalesce(max(customer_key), 0) FROM prior) + row_number() OVER (ORDER BY d.customer_id) AS customer_key,
    d.customer_id, d.first_name, d.last_name, d.full_name, d.gender
  FROM delivered AS d
  WHERE NOT EXISTS (SELECT 1 FROM prior AS p WHERE p.customer_id = d.customer_id)
),

final AS (
  SELECT * FROM unknown_member
  UNION ALL
  SELECT * FROM known
  UNION ALL
  SELECT * FROM new_members
)

INSERT INTO {{ this }} (customer_key, customer_id, first_name, last_name, full_name, gender)
SELECT customer_key, customer_id, first_name, last_name, full_name, gender
FROM final
ORDER BY customer_key;

ANALYZE {{ this }};
