-- partitions: how many fact rows each loaded month holds, for ops.partitions (activities/ops.ts reads
-- models/<dataset>/partitions.sql after a successful run). One row per month: period 'YYYY-MM', rows.
-- After a period run (gudang.period = 'YYYY-MM') only that month; after a full refresh every month.
-- Lines without an order date belong to no month and are not counted.
WITH

run AS (SELECT period, starts, ends FROM ops.run_period())

SELECT to_char(f.order_date, 'YYYY-MM') AS period, count(*)::bigint AS rows
FROM warehouse.fct_transactions AS f
CROSS JOIN run
WHERE f.order_date IS NOT NULL
  AND (run.period IS NULL OR (f.order_date >= run.starts AND f.order_date < run.ends))
GROUP BY 1
ORDER BY 1
