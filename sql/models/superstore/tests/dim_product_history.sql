-- check: dim_product_history
-- table: superstore_dw.dim_product
--
-- The product history is sound (ops.scd2_violations, sql/migrations/032_superstore_schemas.sql): exactly one current
-- version per product_id, no overlapping validity ranges and no gaps, valid_from before valid_to, is_current exactly
-- on the open version, and no version starting after the period this run observed nor a later month loaded
-- already (a late delivery is refused here, before anything is published). Zero rows means pass; each row names the product_id and the problem.
SELECT v.natural_key AS product_id, v.problem, v.detail
FROM ops.run_period() AS run
CROSS JOIN LATERAL ops.scd2_violations(
  '{{ ref('dim_product') }}', 'product_id', 'product_key',
  coalesce(run.starts::date, date_trunc('month', (SELECT max(order_date) FROM {{ source('orders') }}))::date),
  'superstore'
) AS v
ORDER BY 1, 2, 3
