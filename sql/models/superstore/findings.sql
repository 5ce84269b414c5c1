-- findings: data-quality findings of a Superstore delivery that are not errors (the dataset's findingsQuery, read by
-- activities/ops.ts after a completed run into ops.findings and the run's summary). Columns finding, key, detail.
--   product id with several names   a Categories row per name; dim_product takes the first name in byte order
--                                   (COLLATE "C"), every sale of the id still lands in the fact
SELECT
  'product id with several names' AS finding,
  product_id AS key,
  format('%s names: %s; dim_product takes %s',
         count(*),
         string_agg(quote_literal(product_name), ', ' ORDER BY product_name COLLATE "C"),
         quote_literal(min(product_name COLLATE "C"))) AS detail
FROM superstore_staging.categories
GROUP BY product_id
HAVING count(*) > 1
ORDER BY product_id
