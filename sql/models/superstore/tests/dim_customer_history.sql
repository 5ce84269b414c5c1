-- check: dim_customer_history
-- table: superstore_dw.dim_customer
--
-- The customer history is sound (ops.scd2_violations, sql/migrations/032_superstore_schemas.sql): exactly one current
-- version per customer_id, no overlapping validity ranges and no gaps, valid_from before valid_to, is_current exactly
-- on the open version, and no version starting after the period this run observed nor a later month loaded
-- already (a late delivery is refused here, before anything is published). Zero rows means pass; each row names the customer_id and the problem.
SELECT v.natural_key AS customer_id, v.problem, v.detail
FROM ops.run_period() AS run
CROSS JOIN LATERAL ops.scd2_violations(
  '{{ ref('dim_customer') }}', 'customer_id', 'customer_key',
  coalesce(run.starts::date, date_trunc('month', (SELECT max(order_date) FROM {{ source('orders') }}))::date),
  'superstore'
) AS v
ORDER BY 1, 2, 3
