-- The period a model or check runs for: the run parameter gudang.period ('YYYY-MM', set with SET LOCAL by
-- src/warehouse/models.ts and gates.ts), as the half-open range [starts, ends). period is NULL for a full
-- refresh. One definition for every model and check that scopes itself to the run's month.
CREATE OR REPLACE FUNCTION ops.run_period(OUT period text, OUT starts timestamp, OUT ends timestamp)
LANGUAGE sql STABLE AS $$
  SELECT
    p,
    to_date(p || '-01', 'YYYY-MM-DD')::timestamp,
    (to_date(p || '-01', 'YYYY-MM-DD') + interval '1 month')::timestamp
  FROM (SELECT nullif(current_setting('gudang.period', true), '') AS p) AS params
$$;
