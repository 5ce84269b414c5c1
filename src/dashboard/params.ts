import { z } from 'zod';

// Query-string parameters of the JSON API: every parameter is declared and validated here; an unknown or bad one is
// a 400 with a message naming it. Values only ever reach SQL as bind parameters, and names (sort columns,
// dimensions, metrics) only through the fixed lists below.

export class BadRequest extends Error {
  readonly statusCode = 400;
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export const month = z.string().regex(MONTH, 'expected a month as YYYY-MM');
export const day = z
  .string()
  .regex(DAY, 'expected a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'not a calendar date');
export const year = z.coerce.number().int('expected a year such as 2016').min(1900, 'expected a year from 1900').max(2999, 'expected a year before 3000');
export const text = z.string().min(1, 'must not be empty').max(200, 'at most 200 characters');
export const limit = (max: number, fallback: number) =>
  z.coerce.number().int('expected an integer').min(1, 'must be at least 1').max(max, `must be at most ${max}`).default(fallback);
export const offset = z.coerce.number().int('expected an integer').min(0, 'must be at least 0').max(10_000_000, 'must be at most 10000000').default(0);
export const order = z.enum(['asc', 'desc']).default('desc');
export const format = z.enum(['json', 'csv']).default('json');

/** Parses a request's query string with a strict schema: unknown parameters are refused too (typos show). */
export function parseQuery<S extends z.ZodRawShape>(shape: S, query: unknown): z.infer<z.ZodObject<S>> & { format: 'json' | 'csv' } {
  const schema = z.object({ ...shape, format }).strict();
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        return `unknown parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')} (allowed: ${Object.keys(shape).concat('format').join(', ')})`;
      }
      const name = i.path.join('.');
      const got = (query as Record<string, unknown>)?.[name];
      return `parameter '${name}': ${i.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
    });
    throw new BadRequest(lines.join('; '));
  }
  return parsed.data as z.infer<z.ZodObject<S>> & { format: 'json' | 'csv' };
}

/** from <= to for two optional values of the same kind. */
export function checkRange<T extends string | number>(from: T | undefined, to: T | undefined, what = "'from'/'to'"): void {
  if (from !== undefined && to !== undefined && from > to) throw new BadRequest(`parameters ${what}: from (${from}) is after to (${to})`);
}
