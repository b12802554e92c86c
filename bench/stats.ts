/** The order statistics every bench script reports, in one place. */

/** The p-th percentile (0-100) of `values`, nearest rank below; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The median of `values` (the upper one of an even count); NaN when there are none. */
export const median = (values: number[]): number => percentile(values, 50);
