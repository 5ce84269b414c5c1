import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { redactUrl } from '../config';
import { createPool } from '../db';
import type { Pool } from '../db';

// The dashboard reads PostgreSQL as the read-only role of sql/roles/dashboard_role.sql, never as the login it is
// given: every connection starts with role=gudang_dashboard and default_transaction_read_only=on, so even a bug in
// a handler can read nothing outside the marts and the run history, and write nothing.

export const DASHBOARD_ROLE = 'gudang_dashboard';
export const ROLE_TEMPLATE = path.resolve(import.meta.dirname, '../../sql/roles/dashboard_role.sql');

/**
 * Applies sql/roles/dashboard_role.sql when the login may (superuser, or CREATEROLE), then checks that the login
 * can act as the role. Throws a message naming the template when it cannot.
 */
export async function prepareReadOnlyRole(url: string): Promise<{ applied: boolean }> {
  const client = new pg.Client({ connectionString: url, application_name: 'gudang-dashboard-setup' });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`dashboard: cannot connect to ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { rows } = await client.query<{ can: boolean }>(
      `SELECT rolsuper OR rolcreaterole AS can FROM pg_roles WHERE rolname = current_user`,
    );
    let applied = false;
    if (rows[0]?.can) {
      await client.query(await readFile(ROLE_TEMPLATE, 'utf8'));
      applied = true;
    }
    const member = await client.query<{ ok: boolean | null }>(
      `SELECT CASE WHEN to_regrole($1) IS NULL THEN NULL ELSE pg_has_role(current_user, $1, 'MEMBER') END AS ok`,
      [DASHBOARD_ROLE],
    );
    const ok = member.rows[0]?.ok;
    if (ok === null) {
      throw new Error(`dashboard: role ${DASHBOARD_ROLE} does not exist in ${redactUrl(url)}: run ${path.relative(process.cwd(), ROLE_TEMPLATE)} as the database owner`);
    }
    if (!ok) {
      throw new Error(`dashboard: the login of ${redactUrl(url)} is not a member of ${DASHBOARD_ROLE}: GRANT ${DASHBOARD_ROLE} TO <login> (see sql/roles/dashboard_role.sql)`);
    }
    return { applied };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A pool whose every connection acts as the read-only dashboard role, read-only, with a statement timeout. */
export function createReadOnlyPool(url: string, max = 8): Pool {
  const u = new URL(url);
  const options = [`-c role=${DASHBOARD_ROLE}`, '-c default_transaction_read_only=on', '-c statement_timeout=10000'];
  const existing = u.searchParams.get('options');
  u.searchParams.set('options', [existing, ...options].filter(Boolean).join(' '));
  return createPool(u.toString(), max);
}
