-- partitions: how many fact rows each loaded month holds, for ops.partitions (the dataset's partitionsQuery, read by
-- activities/ops.ts after a successful run). One row per month: period 'YYYY-MM', rows. After a period run
-- (gudang.period = 'YYYY-MM') only that month; after a full refresh every month.
WITH

run AS (SELECT period, starts, ends FROM ops.run_period())

SELECT to_char(f.order_date, 'YYYY-MM') AS period, count(*)::bigint AS rows
FROM superstore_dw.fct_sales AS f
CROSS JOIN run
WHERE run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends)
GROUP BY 1
ORDER BY 1
