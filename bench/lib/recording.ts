import type pg from 'pg';

/** One statement as the project sent it. */
export interface RecordedQuery {
  text: string;
  values?: unknown[];
}

/**
 * A pool that hands out clients whose query() records every statement before running it.
 * Only what runModel and runLayerGates use is supported: connect(), client.query(text[, values]), release().
 */
export function recordingPool(pool: pg.Pool, log: RecordedQuery[]): pg.Pool {
  // One wrapper per pooled client: withClient() keys its one 'error' listener by the object it is handed, so a new
  // wrapper at every connect() added another listener to the same client (MaxListenersExceededWarning).
  const wrappers = new WeakMap<pg.PoolClient, pg.PoolClient>();
  const wrapClient = (client: pg.PoolClient): pg.PoolClient => {
    let wrapped = wrappers.get(client);
    if (!wrapped) wrappers.set(client, (wrapped = wrap(client)));
    return wrapped;
  };
  const wrap = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return (text: unknown, values?: unknown) => {
            if (typeof text !== 'string') throw new Error('recordingPool: only query(text, values) is supported');
            log.push({ text, values: Array.isArray(values) ? [...(values as unknown[])] : undefined });
            return (target.query as (t: string, v?: unknown) => Promise<unknown>).call(target, text, values);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => wrapClient(await target.connect());
      if (prop === 'query') {
        return (text: unknown, values?: unknown) => {
          if (typeof text !== 'string') throw new Error('recordingPool: only query(text, values) is supported');
          log.push({ text, values: Array.isArray(values) ? [...(values as unknown[])] : undefined });
          return (target.query as (t: string, v?: unknown) => Promise<unknown>).call(target, text, values);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = Array.isArray(value) ? `{${value.map((v) => `"${String(v).replace(/["\\]/g, '\\$&')}"`).join(',')}}` : String(value);
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The recorded statements as one psql script, bind parameters inlined as literals. Each statement is closed
 * on a line of its own, so a trailing `-- comment` cannot swallow the terminator (an extra `;` is a no-op).
 */
export function toPsqlScript(queries: readonly RecordedQuery[]): string {
  const out: string[] = [];
  for (const q of queries) {
    let text = q.text;
    if (q.values && q.values.length > 0) {
      text = text.replace(/\$(\d+)\b/g, (m, n: string) => {
        const i = Number(n) - 1;
        return i < q.values!.length ? literal(q.values![i]) : m;
      });
    }
    out.push(`${text.trimEnd()}\n;\n`);
  }
  return out.join('');
}
