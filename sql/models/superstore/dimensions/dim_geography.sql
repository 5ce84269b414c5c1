-- dim_geography: one row per place an order shipped to (country, region, state, city, postal_code), plus the
-- unknown member. Type 1 and stateful: a place keeps its geography_key for ever ({{ prior }} carried over), a new
-- place gets the next key in natural-key order. A blank postal code is a place of its own (postal_code NULL).
--
-- test: unique(geography_key)
-- test: not_null(geography_key, country, region, state, city)
-- test: unknown_member(geography_key = -1)

CREATE TABLE {{ this }} (
  geography_key integer PRIMARY KEY,
  country       text NOT NULL,
  region        text NOT NULL,
  state         text NOT NULL,
  city          text NOT NULL,
  postal_code   text
);

WITH

delivered AS (
  SELECT DISTINCT country, region, state, city, postal_code FROM {{ source('orders') }}
),

kept AS (
  SELECT geography_key, country, region, state, city, postal_code FROM {{ prior }} WHERE geography_key <> -1
),

new_places AS (
  SELECT
    (SELECT coalesce(max(geography_key), 0) FROM kept)
      + row_number() OVER (ORDER BY d.country, d.region, d.state, d.city, d.postal_code) AS geography_key,
    d.country, d.region, d.state, d.city, d.postal_code
  FROM delivered AS d
  WHERE NOT EXISTS (
    SELECT 1 FROM kept AS k
    WHERE (k.country, k.region, k.state, k.city, coalesce(k.postal_code, ''))
        = (d.country, d.region, d.state, d.city, coalesce(d.postal_code, ''))
  )
),

final AS (
  SELECT -1 AS geography_key, 'Unknown' AS country, 'Unknown' AS region, 'Unknown' AS state, 'Unknown' AS city, NULL::text AS postal_code
  UNION ALL
  SELECT * FROM kept
  UNION ALL
  SELECT * FROM new_places
)

INSERT INTO {{ this }} (geography_key, country, region, state, city, postal_code)
SELECT geography_key, country, region, state, city, postal_code FROM final ORDER BY geography_key;

ANALYZE {{ this }};
