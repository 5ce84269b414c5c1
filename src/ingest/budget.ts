import { InputError } from '../errors';

// Reject budgets: how many rows a load may quarantine (ops.rejected_rows) before it fails instead.
// Written "N" (rows) or "P%" (of the rows read). Default 0: any rejected row fails the run.

export type RejectBudget = { kind: 'rows'; rows: number } | { kind: 'percent'; percent: number };

const ROWS = /^\d{1,15}$/;
const PERCENT = /^(\d{1,3}(?:\.\d{1,6})?)\s*%$/;

/**
 * Parses "N" (a non-negative whole number of rows) or "P%" (0 to 100, decimals allowed, e.g. "0.5%").
 * Anything else is a ConfigError naming `what` (e.g. "--reject-budget").
 */
export function parseRejectBudget(text: string | number, what = 'reject budget'): RejectBudget {
  const t = String(text).trim();
  if (ROWS.test(t)) return { kind: 'rows', rows: Number(t) };
  const m = PERCENT.exec(t);
  if (m) {
    const percent = Number(m[1]);
    if (percent <= 100) return { kind: 'percent', percent };
  }
  throw new InputError('ConfigError', `${what}: ${JSON.stringify(String(text))} is not a reject budget; expected N (rows) or P% (0-100% of rows read), e.g. 0, 25 or 1.5%`);
}

/** The budget as written back: "25" or "1.5%". */
export function formatRejectBudget(budget: RejectBudget): string {
  return budget.kind === 'rows' ? String(budget.rows) : `${budget.percent}%`;
}

/** True when `rejected` rows out of `read` stay within the budget. */
export function withinBudget(budget: RejectBudget, rejected: number, read: number): boolean {
  if (budget.kind === 'rows') return rejected <= budget.rows;
  // rejected / read <= percent / 100, in integers where possible (percent has at most 6 decimals)
  return rejected * 100_000_000 <= Math.round(budget.percent * 1_000_000) * read;
}

/**
 * True when `rejected` rows exceed the budget whatever the final number of rows read: a rows budget can be known
 * to be blown before the file is finished (and the load can stop early); a percentage needs the final count.
 */
export function certainlyOverBudget(budget: RejectBudget, rejected: number): boolean {
  return budget.kind === 'rows' && rejected > budget.rows;
}

/** The budget of one load: the run's override when given, else the source's own. */
export function effectiveBudget(sourceBudget: string | number, runOverride?: string): RejectBudget {
  if (runOverride !== undefined && runOverride !== '') return parseRejectBudget(runOverride, 'run reject budget');
  return parseRejectBudget(sourceBudget, 'source reject budget');
}
