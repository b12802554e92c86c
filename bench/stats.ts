/** The order statistics every bench script reports, in one place. */

/** The p-th percentile (0-100) of `values`, nearest rank below; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * The percentile of `values` plus `missed` more that are known only to be larger than all of them (jobs
 * that never began within the time waited): Infinity when the percentile falls among those.
 */
export const percentileWithMissed = (values: number[], missed: number, p: number): number =>
  percentile([...values, ...new Array<number>(missed).fill(Number.POSITIVE_INFINITY)], p);

/** The median of `values` (the upper one of an even count); NaN when there are none. */
export const median = (values: number[]): number => percentile(values, 50);
