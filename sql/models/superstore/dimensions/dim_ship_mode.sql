-- dim_ship_mode: one row per ship mode ('Second Class', ...), plus the unknown member. Type 1 and stateful: a
-- mode keeps its ship_mode_key for ever ({{ prior }} carried over), a new one gets the next key in name order.
--
-- test: unique(ship_mode_key)
-- test: unique(ship_mode)
-- test: not_null(ship_mode_key, ship_mode)
-- test: unknown_member(ship_mode_key = -1)

CREATE TABLE {{ this }} (
  ship_mode_key integer PRIMARY KEY,
  ship_mode     text NOT NULL
);

WITH

delivered AS (
  SELECT DISTINCT ship_mode FROM {{ source('orders') }}
),

kept AS (
  SELECT ship_mode_key, ship_mode FROM {{ prior }} WHERE ship_mode_key <> -1
),

final AS (
  SELECT -1 AS ship_mode_key, 'Unknown' AS ship_mode
  UNION ALL
  SELECT * FROM kept
  UNION ALL
  SELECT (SELECT coalesce(max(ship_mode_key), 0) FROM kept) + row_number() OVER (ORDER BY d.ship_mode), d.ship_mode
  FROM delivered AS d
  WHERE NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.ship_mode = d.ship_mode)
)

INSERT INTO {{ this }} (ship_mode_key, ship_mode)
SELECT ship_mode_key, ship_mode FROM final ORDER BY ship_mode_key;
