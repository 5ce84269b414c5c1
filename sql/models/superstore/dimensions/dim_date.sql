-- dim_date: one row per calendar day of every year that holds an order or ship date, delivered now or earlier
-- (stateful: the range of {{ prior }} is kept, so facts of earlier months still resolve), plus the unknown member
-- (date_key -1). date_key is the day as the integer YYYYMMDD.
--
-- test: unique(date_key)
-- test: unique(full_date)
-- test: not_null(date_key, full_date, year, quarter, month, month_name, day, day_of_week, is_weekend)
-- test: unknown_member(date_key = -1)

CREATE TABLE {{ this }} (
  date_key    integer PRIMARY KEY,
  full_date   date     NOT NULL,
  year        integer  NOT NULL,
  quarter     integer  NOT NULL,
  month       integer  NOT NULL,
  month_name  text     NOT NULL,
  day         integer  NOT NULL,
  day_of_week integer  NOT NULL,
  is_weekend  boolean  NOT NULL
);

WITH

bounds AS (
  SELECT min(d) AS first_day, max(d) AS last_day
  FROM (
    SELECT min(order_date) AS d FROM {{ source('orders') }}
    UNION ALL SELECT max(ship_date) FROM {{ source('orders') }}
    UNION ALL SELECT min(full_date) FROM {{ prior }} WHERE date_key <> -1
    UNION ALL SELECT max(full_date) FROM {{ prior }} WHERE date_key <> -1
  ) AS ends
),

days AS (
  SELECT g::date AS full_date
  FROM bounds,
       generate_series(date_trunc('year', bounds.first_day), date_trunc('year', bounds.last_day) + interval '1 year - 1 day', interval '1 day') AS g
  WHERE bounds.first_day IS NOT NULL
)

INSERT INTO {{ this }} (date_key, full_date, year, quarter, month, month_name, day, day_of_week, is_weekend)
SELECT -1, DATE '1900-01-01', 1900, 1, 1, 'Unknown', 1, 1, false
UNION ALL
SELECT
  to_char(full_date, 'YYYYMMDD')::integer,
  full_date,
  extract(year FROM full_date)::integer,
  extract(quarter FROM full_date)::integer,
  extract(month FROM full_date)::integer,
  to_char(full_date, 'FMMonth'),
  extract(day FROM full_date)::integer,
  extract(isodow FROM full_date)::integer,
  extract(isodow FROM full_date) IN (6, 7)
FROM days
ORDER BY 1;
