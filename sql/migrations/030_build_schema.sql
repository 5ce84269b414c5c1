-- 030_build_schema: where runs build their tables before publishing them (write, audit, publish).
--
-- Every model of a run writes gudang_build.<schema>__<table>__<run tag> (src/warehouse/build.ts); the layer's
-- quality gates read it there; only when every gate of the run has passed does the publish step move the built
-- tables into warehouse/mart, all in one transaction. Readers get no privileges here: what they cannot see
-- cannot mislead them. A failed or cancelled run's build tables are dropped by the run's discard step.
CREATE SCHEMA IF NOT EXISTS gudang_build;
