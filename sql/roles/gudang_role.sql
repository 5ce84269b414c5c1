-- gudang_role.sql: the database role the pipeline runs as, with the privileges it uses and no others.
--
-- Run it as the database's owner (or a superuser), in the pipeline's database, AFTER the migrations
-- (`npm run worker` once as the owner, or src/warehouse/migrate.ts), e.g.
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/roles/gudang_role.sql
--   psql "$OWNER_DATABASE_URL" -c "CREATE ROLE gudang_worker LOGIN PASSWORD '...' IN ROLE gudang_pipeline" \
--                              -c "ALTER ROLE gudang_worker SET role TO gudang_pipeline"
--
-- (the second line makes every session of the login act as gudang_pipeline, so the tables it creates belong to
-- gudang_pipeline, whichever login created them, and the next one can replace them)
-- and give the worker DATABASE_URL=postgres://gudang_worker:...@host/db. Running it again is harmless.
--
-- What the pipeline does, and the privilege each needs:
--   connect; a temporary table while moving duplicate keys    CONNECT, TEMPORARY on the database
--   landing.*: create, COPY into, index, move into staging    USAGE, CREATE on schema landing
--   staging.*: drop the old table, move the new one in        USAGE, CREATE on schema staging (owns its tables)
--   gudang_build.*: build a run's tables before publishing     USAGE, CREATE on schema gudang_build (owns them)
--   warehouse.*, mart.*: publish (drop old, move new in)       USAGE, CREATE on schemas warehouse, mart (owns them)
--   ops.*: ledgers (loads, load plans/chunks, rejected rows,  USAGE on ops; SELECT, INSERT, UPDATE, DELETE on its
--          run history)                                        tables; SELECT only on ops.schema_migrations
-- Migrations are the owner's job: the role cannot create schemas or ops tables. (src/warehouse/migrate.ts, run by
-- the worker at start, issues CREATE SCHEMA/TABLE IF NOT EXISTS for its own ledger, which PostgreSQL refuses
-- without CREATE privileges even when the objects exist: as this role, start the worker without migrating.)
-- Not granted: superuser, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, CREATE on the database (no new schemas),
-- anything in schema public, ownership of the ops tables (it cannot drop or alter the ledgers).
-- The role has no LOGIN: log in as a member of it (above), so the password lives with that login role.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gudang_pipeline') THEN
    CREATE ROLE gudang_pipeline NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO gudang_pipeline', current_database());
END
$$;

CREATE SCHEMA IF NOT EXISTS landing;

GRANT USAGE, CREATE ON SCHEMA landing, staging, gudang_build, warehouse, mart TO gudang_pipeline;
-- The Superstore dataset's own schemas (sql/migrations/032_superstore_schemas.sql).
GRANT USAGE, CREATE ON SCHEMA superstore_staging, superstore_dw, superstore_mart TO gudang_pipeline;
GRANT USAGE ON SCHEMA ops TO gudang_pipeline;

-- The ledgers stay owned by the migrations' owner; the pipeline reads and writes their rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ops TO gudang_pipeline;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ops.schema_migrations FROM gudang_pipeline;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ops TO gudang_pipeline;
-- Tables that later migrations (run by the same owner) add to ops.
ALTER DEFAULT PRIVILEGES IN SCHEMA ops GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gudang_pipeline;
ALTER DEFAULT PRIVILEGES IN SCHEMA ops GRANT USAGE ON SEQUENCES TO gudang_pipeline;

-- Tables the pipeline rebuilds must be its own: the loader replaces staging tables by swapping (DROP + rename),
-- models rebuild and ANALYZE theirs. Hand over any that an earlier run under another role created.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('landing', 'staging', 'gudang_build', 'warehouse', 'mart', 'superstore_staging', 'superstore_dw', 'superstore_mart') AND c.relkind IN ('r', 'p', 'v', 'm')
       AND pg_get_userbyid(c.relowner) <> 'gudang_pipeline'
  LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO gudang_pipeline', t.name);
  END LOOP;
END
$$;
