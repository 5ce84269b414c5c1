-- dashboard_role.sql: the read-only role the dashboard (`npm run dashboard`) reads the warehouse as.
--
-- It may read the published marts and the run history the dashboard shows, and nothing else: no staging, no
-- warehouse (dimensions, facts), no landing, no ledgers of loads, no schema public, and it can write nothing.
--
--   mart.*, superstore_mart.*                       SELECT (every table, and the tables later runs create)
--   ops.pipeline_runs, ops.step_runs, ops.partitions SELECT (runs, steps, months loaded)
--   ops.rejected_rows                                SELECT (the rejected rows of a run)
--   ops.streams, ops.stream_*                       SELECT (the stream's state and lag)
--
-- `npm run dashboard` applies this file itself at start-up when its login may (a superuser, or the owner of the
-- schemas with CREATEROLE), then sets `role=gudang_dashboard` and `default_transaction_read_only=on` on every
-- connection it opens. Otherwise run it once as the owner, after the migrations, and give the dashboard a login
-- that is a member of the role:
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/roles/dashboard_role.sql
--   psql "$OWNER_DATABASE_URL" -c "CREATE ROLE gudang_viewer LOGIN PASSWORD '...' IN ROLE gudang_dashboard"
--
-- Running it again is harmless; run it again after a migration adds a schema it should read.
-- Marts are rebuilt (and, with write-audit-publish, swapped in as new tables) by the pipeline's role: the default
-- privileges below make every table that role (or the owner running this file) creates in a mart schema readable.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gudang_dashboard') THEN
    CREATE ROLE gudang_dashboard NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
EXCEPTION WHEN unique_violation OR duplicate_object THEN
  NULL; -- created by a concurrent run of this file
END
$$;

DO $$
DECLARE
  s text;
  t record;
  creators text[] := ARRAY[current_user::text];
  c text;
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO gudang_dashboard', current_database());
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gudang_pipeline') AND pg_has_role(current_user, 'gudang_pipeline', 'MEMBER') THEN
    creators := array_append(creators, 'gudang_pipeline'::text);
  END IF;
  FOREACH s IN ARRAY ARRAY['mart', 'superstore_mart'] LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO gudang_dashboard', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO gudang_dashboard', s);
    FOREACH c IN ARRAY creators LOOP
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO gudang_dashboard', c, s);
    END LOOP;
  END LOOP;
  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'ops') THEN
    GRANT USAGE ON SCHEMA ops TO gudang_dashboard;
    FOR t IN
      SELECT format('%I.%I', n.nspname, c2.relname) AS name
        FROM pg_class c2 JOIN pg_namespace n ON n.oid = c2.relnamespace
       WHERE n.nspname = 'ops' AND c2.relkind IN ('r', 'p', 'v')
         AND (c2.relname IN ('pipeline_runs', 'step_runs', 'partitions', 'rejected_rows', 'streams') OR c2.relname LIKE 'stream\_%')
    LOOP
      EXECUTE format('GRANT SELECT ON %s TO gudang_dashboard', t.name);
    END LOOP;
  END IF;
END
$$;
