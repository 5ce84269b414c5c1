-- 032_superstore_schemas: the schemas of the Superstore dataset (src/datasets/superstore.ts).
--
-- Each dataset owns its schemas; ops.* is shared and keyed by dataset. Django Apparel keeps staging, warehouse
-- and mart (001_schemas.sql).
--
--   superstore_staging  one table per source workbook, the registry's columns (src/ingest/staging.ts)
--   superstore_dw       star schema with type 2 customer and product history (sql/models/superstore/...)
--   superstore_mart     sales KPI and RFM marts

CREATE SCHEMA IF NOT EXISTS superstore_staging;
CREATE SCHEMA IF NOT EXISTS superstore_dw;
CREATE SCHEMA IF NOT EXISTS superstore_mart;

-- Checks a type 2 dimension's history (used by the singular tests in sql/models/superstore/tests/): one row per
-- problem, none when the history is sound. `dim` is the table to check, `id` its natural key column, `key` its
-- surrogate key column (the unknown member, key -1, is left out); `observed` is the first day of the period the
-- run observed (versions it opens start there); `dataset` names the dataset in ops.partitions.
--   current versions   every id has exactly one current version (0 is the bug of the system gudang replaces)
--   current flag       is_current is true exactly for the open version (valid_to 9999-12-31)
--   empty range        valid_from is before valid_to
--   overlap / gap      an id's versions, ordered by valid_from, touch: each one's valid_to is the next one's valid_from
--   out of order       no version starts after the observed period, and no later month is loaded already
--                      (ops.partitions): a late delivery would rewrite history that later facts point to
CREATE OR REPLACE FUNCTION ops.scd2_violations(dim text, id text, key text, observed date, dataset text)
RETURNS TABLE (natural_key text, problem text, detail text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH versions AS (
      SELECT %2$I::text AS nk, %3$I AS k, valid_from, valid_to, is_current,
             lead(valid_from) OVER (PARTITION BY %2$I ORDER BY valid_from, %3$I) AS next_from
      FROM %1$s
      WHERE %3$I <> -1
    )
    SELECT nk, 'current versions', format('%%s current versions (expected exactly 1)', count(*) FILTER (WHERE is_current))
    FROM versions GROUP BY nk HAVING count(*) FILTER (WHERE is_current) <> 1
    UNION ALL
    SELECT nk, 'current flag', format('key %%s: is_current %%s but valid_to %%s', k, is_current, valid_to)
    FROM versions WHERE is_current <> (valid_to = DATE '9999-12-31')
    UNION ALL
    SELECT nk, 'empty range', format('key %%s: valid_from %%s is not before valid_to %%s', k, valid_from, valid_to)
    FROM versions WHERE valid_from >= valid_to
    UNION ALL
    SELECT nk, CASE WHEN next_from < valid_to THEN 'overlap' ELSE 'gap' END,
           format('key %%s: valid_to %%s but the next version starts %%s', k, valid_to, next_from)
    FROM versions WHERE next_from IS NOT NULL AND next_from <> valid_to
    UNION ALL
    SELECT nk, 'out of order',
           format('key %%s starts %%s, after the delivery being loaded (%%s): periods must be loaded in order; see docs/superstore.md', k, valid_from, %4$L::date)
    FROM versions WHERE valid_from > %4$L::date
    UNION ALL
    SELECT NULL, 'out of order',
           format('%%s is loaded already and this delivery is for %%s: periods must be loaded in order; see docs/superstore.md',
                  max(period), to_char(%4$L::date, 'YYYY-MM'))
    FROM ops.partitions
    WHERE dataset = %5$L AND status = 'loaded' AND period > to_char(%4$L::date, 'YYYY-MM')
    HAVING count(*) > 0
  $q$, dim::regclass, id, key, observed, dataset);
END
$$;

-- Data-quality findings of a run that are not errors (e.g. a product id delivered with several names): one row
-- per finding and key, written after a completed run from the dataset's findings query, listed in its summary.
CREATE TABLE IF NOT EXISTS ops.findings (
  dataset     text        NOT NULL,
  run_id      text        NOT NULL,
  period      text,                             -- YYYY-MM; NULL for a full run
  finding     text        NOT NULL,             -- e.g. 'product id with several names'
  key         text        NOT NULL,             -- e.g. the product id
  detail      text        NOT NULL,             -- e.g. the names, and which one the dimension took
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, finding, key)
);

CREATE INDEX IF NOT EXISTS findings_dataset_idx ON ops.findings (dataset, recorded_at DESC);
