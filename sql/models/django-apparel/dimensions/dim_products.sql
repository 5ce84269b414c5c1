-- dim_products: one row per product (natural id product_id) with its category, plus the unknown member.
-- Several products share a name and differ by size: product_name + size is the readable label,
-- product_id the identity.
--
-- Stateful: the new table is {{ prior }} (the last published version) plus this delivery's changes.
-- Surrogate key: product_key, assigned once when a product is first seen and never renumbered: a product already
-- in {{ prior }} keeps its key and takes the delivered attributes; a new product gets the next key (in product_id
-- order). A rerun over the same staging produces the same rows.
-- Unknown member: product_key = -1, product_id and product_category_id NULL, names and size 'Unknown',
-- price NULL. Order lines whose product is missing from staging point at it. A product whose category
-- is missing keeps its product_category_id and gets product_category_name 'Unknown'.
-- History: a product that disappears from staging.products is kept (with its last known attributes),
-- so facts already attributed to it keep resolving and its key is never reused.
--
-- test: unique(product_key)
-- test: unique(product_id)
-- test: not_null(product_key, product_name, size, product_category_name)
-- test: not_null(product_id, price, product_category_id) where product_key <> -1
-- test: unknown_member(product_key = -1)

CREATE TABLE {{ this }} (
  product_key           integer PRIMARY KEY,
  product_id            bigint UNIQUE,
  product_name          text NOT NULL,
  size                  text NOT NULL,
  price                 numeric,
  product_category_id   bigint,
  product_category_name text NOT NULL
);

WITH

-- import CTEs
products AS (
  SELECT product_id, product_name, size, price, product_category_id FROM {{ source('products') }}
),

product_categories AS (
  SELECT product_category_id, product_category_name FROM {{ source('product_categories') }}
),

prior AS (
  SELECT product_key, product_id, product_name, size, price, product_category_id, product_category_name
  FROM {{ prior }}
  WHERE product_key <> -1
),

-- logic CTEs
delivered AS (
  SELECT
    p.product_id,
    p.product_name,
    p.size,
    p.price,
    p.product_category_id,
    coalesce(c.product_category_name, 'Unknown') AS product_category_name
  FROM products AS p
  LEFT JOIN product_categories AS c ON c.product_category_id = p.product_category_id
),

unknown_member AS (
  SELECT -1 AS product_key, NULL::bigint AS product_id, 'Unknown' AS product_name, 'Unknown' AS size,
         NULL::numeric AS price, NULL::bigint AS product_category_id, 'Unknown' AS product_category_name
),

-- known members keep their key; the delivery's attributes win, a product missing from it keeps its last ones
known AS (
  SELECT
    p.product_key,
    p.product_id,
    CASE WHEN d.product_id IS NULL THEN p.product_name          ELSE d.product_name          END AS product_name,
    CASE WHEN d.product_id IS NULL THEN p.size                  ELSE d.size                  END AS size,
    CASE WHEN d.product_id IS NULL THEN p.price                 ELSE d.price                 END AS price,
    CASE WHEN d.product_id IS NULL THEN p.product_category_id   ELSE d.product_category_id   END AS product_category_id,
    CASE WHEN d.product_id IS NULL THEN p.product_category_name ELSE d.product_category_name END AS product_category_name
  FROM prior AS p
  LEFT JOIN delivered AS d ON d.product_id = p.product_id
),

-- new members: the next keys, in product_id order
new_members AS (
  SELECT
    (SELECT coalesce(max(product_key), 0) FROM prior) + row_number() OVER (ORDER BY d.product_id) AS product_key,
    d.product_id, d.product_name, d.size, d.price, d.product_category_id, d.product_category_name
  FROM delivered AS d
  WHERE NOT EXISTS (SELECT 1 FROM prior AS p WHERE p.product_id = d.product_id)
),

final AS (
  SELECT * FROM unknown_member
  UNION ALL
  SELECT * FROM known
  UNION ALL
  SELECT * FROM new_members
)

INSERT INTO {{ this }} (product_key, product_id, product_name, size, price, product_category_id, product_category_name)
SELECT product_key, product_id, product_name, size, price, product_category_id, product_category_name
FROM final
ORDER BY product_key;

ANALYZE {{ this }};
