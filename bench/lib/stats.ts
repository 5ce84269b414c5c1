export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summary(values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { n: v.length, median, min: v[0]!, max: v[v.length - 1]! };
}

/** Spread of a sample: (max - min) / median, as a percentage; the noise figure shown next to each result. */
export function spreadPct(s: Summary): number {
  return s.median > 0 ? (100 * (s.max - s.min)) / s.median : NaN;
}

export const round = (x: number, digits = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);
