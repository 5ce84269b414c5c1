// Periods: a calendar month, "YYYY-MM". Plain arithmetic, no I/O: safe inside workflows. Re-exported by contracts.ts.

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export function isPeriod(value: string): boolean {
  return PERIOD.test(value);
}

function splitPeriod(period: string): [number, number] {
  const m = PERIOD.exec(period);
  if (!m) throw new RangeError(`"${period}" is not a period (YYYY-MM)`);
  return [Number(m[1]), Number(m[2])];
}

function makePeriod(year: number, month: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

/** The period `delta` months after (negative: before) `period`. */
export function addMonths(period: string, delta: number): string {
  const [y, m] = splitPeriod(period);
  const index = y * 12 + (m - 1) + delta;
  return makePeriod(Math.floor(index / 12), (index % 12) + 1);
}

/** Every period from `from` to `to`, both included, in order. Throws when to < from. */
export function periodRange(from: string, to: string): string[] {
  const [fy, fm] = splitPeriod(from);
  const [ty, tm] = splitPeriod(to);
  const n = ty * 12 + tm - (fy * 12 + fm);
  if (n < 0) throw new RangeError(`period range ${from}..${to} is empty: ${to} is before ${from}`);
  return Array.from({ length: n + 1 }, (_, i) => addMonths(from, i));
}

/** "2022-03" -> "March 2022". */
export function periodLabel(period: string): string {
  const [y, m] = splitPeriod(period);
  return `${MONTH_NAMES[m - 1]} ${y}`;
}

/** The calendar month `instant` falls in, on the wall clock of `timeZone` (IANA name). */
export function periodAt(instant: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit' }).formatToParts(instant);
  const year = Number(parts.find((p) => p.type === 'year')?.value);
  const month = Number(parts.find((p) => p.type === 'month')?.value);
  if (!Number.isInteger(year) || !Number.isInteger(month)) throw new RangeError(`cannot place ${instant.toISOString()} in a month of ${timeZone}`);
  return makePeriod(year, month);
}

/** The period a scheduled run loads: the month before its scheduled time, in the schedule's zone. */
export function periodForScheduledTime(scheduledAt: Date, timeZone: string): string {
  return addMonths(periodAt(scheduledAt, timeZone), -1);
}
