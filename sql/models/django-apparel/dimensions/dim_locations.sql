-- dim_locations: grain one city (natural id city_id), with its province, plus the unknown member.
--
-- Stateful: the new table is {{ prior }} (the last published version) plus this delivery's changes.
-- Surrogate key: location_key, assigned once when a city is first seen and never renumbered: a city already in
-- {{ prior }} keeps its key and takes the delivered attributes; a new city gets the next key (in city_id order).
-- A rerun over the same staging produces the same rows.
-- Unknown member: location_key = -1, city_id and province_id NULL, city_name and province_name 'Unknown'.
-- Orders whose city is missing from staging point at it. A city whose province is missing keeps its
-- province_id and gets province_name 'Unknown'.
-- History: a city that disappears from staging.cities is kept (with its last known attributes),
-- so facts already attributed to it keep resolving and its key is never reused.
--
-- test: unique(location_key)
-- test: unique(city_id)
-- test: not_null(location_key, city_name, province_name)
-- test: not_null(city_id, province_id) where location_key <> -1
-- test: unknown_member(location_key = -1)

CREATE TABLE {{ this }} (
  location_key  integer PRIMARY KEY,
  city_id       bigint UNIQUE,
  city_name     text NOT NULL,
  province_id   bigint,
  province_name text NOT NULL
);

WITH

-- import CTEs
cities AS (
  SELECT city_id, city_names, province_id FROM {{ source('cities') }}
),

provinces AS (
  SELECT province_id, province_names FROM {{ source('provinces') }}
),

prior AS (
  SELECT location_key, city_id, city_name, province_id, province_name FROM {{ prior }} WHERE location_key <> -1
),

-- logic CTEs
delivered AS (
  SELECT
    c.city_id,
    c.city_names                             AS city_name,
    c.province_id,
    coalesce(p.province_names, 'Unknown')    AS province_name
  FROM cities AS c
  LEFT JOIN provinces AS p ON p.province_id = c.province_id
),

unknown_member AS (
  SELECT -1 AS location_key, NULL::bigint AS city_id, 'Unknown' AS city_name, NULL::bigint AS province_id,
         'Unknown' AS province_name
),

-- known members keep their key; the delivery's attributes win, a city missing from it keeps its last ones
known AS (
  SELECT
    p.location_key,
    p.city_id,
    CASE WHEN d.city_id IS NULL THEN p.city_name     ELSE d.city_name     END AS city_name,
    CASE WHEN d.city_id IS NULL THEN p.province_id   ELSE d.province_id   END AS province_id,
    CASE WHEN d.city_id IS NULL THEN p.province_name ELSE d.province_name END AS province_name
  FROM prior AS p
  LEFT JOIN delivered AS d ON d.city_id = p.city_id
),

-- new members: the next keys, in city_id order
new_members AS (
  SELECT
    (SELECT coalesce(max(location_key), 0) FROM prior) + row_number() OVER (ORDER BY d.city_id) AS location_key,
    d.city_id, d.city_name, d.province_id, d.province_name
  FROM delivered AS d
  WHERE NOT EXISTS (SELECT 1 FROM prior AS p WHERE p.city_id = d.city_id)
),

final AS (
  SELECT * FROM unknown_member
  UNION ALL
  SELECT * FROM known
  UNION ALL
  SELECT * FROM new_members
)

INSERT INTO {{ this }} (location_key, city_id, city_name, province_id, province_name)
SELECT location_key, city_id, city_name, province_id, province_name
FROM final
ORDER BY location_key;

ANALYZE {{ this }};
