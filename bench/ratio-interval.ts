/**
 * A confidence interval for a ratio measured once per round (configured over nothing
 * configured, say): the geometric mean of the rounds' ratios and Student's t interval on their
 * logarithms. On a shared machine a round's ratio swings by ±15% around the truth; with an
 * interval, a few dozen rounds can still show that the truth is within a 5% bound (or beyond
 * it), which no rule on single rounds can. Logarithms, because a ratio's noise is
 * multiplicative (0.8x and 1.25x are the same distance from 1). Pure.
 *
 * @module
 */

/** Student's t quantile at 0.95 (one side of a 90% interval) for 1..30 degrees of freedom. */
const T95 = [6.314, 2.92, 2.353, 2.132, 2.015, 1.943, 1.895, 1.86, 1.833, 1.812, 1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.74, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697];

/** The t quantile for `df` degrees of freedom (a conservative step beyond 30). */
export function t95(df: number): number {
  if (df < 1) return Infinity;
  if (df <= T95.length) return T95[df - 1] as number;
  return df <= 40 ? 1.684 : df <= 60 ? 1.671 : df <= 120 ? 1.658 : 1.645;
}

/** The geometric mean of the ratios and its 90% interval. */
export interface RatioInterval {
  readonly n: number;
  readonly mean: number;
  readonly low: number;
  readonly high: number;
}

/** The interval of `ratios` (each > 0); undefined with fewer than two. */
export function ratioInterval(ratios: readonly number[]): RatioInterval | undefined {
  const logs = ratios.filter((r) => r > 0 && Number.isFinite(r)).map(Math.log);
  const n = logs.length;
  if (n < 2) return undefined;
  const m = logs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(logs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1));
  const half = t95(n - 1) * (sd / Math.sqrt(n));
  return { n, mean: Math.exp(m), low: Math.exp(m - half), high: Math.exp(m + half) };
}
