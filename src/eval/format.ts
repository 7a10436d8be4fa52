// How a metric summarised over seeds is printed, shared by the benchmark table and the reference table.

/** Three decimals; `n/a` for a value that could not be computed (null or not finite). */
export const f3 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));

/** " ± std", or nothing with fewer than two seeds: there "± 0.000" would read as a measured zero spread. */
const spread = (s: number | null, seeds: number) => (seeds < 2 ? '' : ` ± ${f3(s)}`);

/** "mean ± std" over `seeds` seeds. */
export function meanStd(m: number | null, s: number | null, seeds: number): string {
  return m === null || !Number.isFinite(m) ? 'n/a' : `${f3(m)}${spread(s, seeds)}`;
}

/** A difference: "+mean ± std" (the sign always shown). */
export function signedMeanStd(m: number | null, s: number | null, seeds: number): string {
  return m === null || !Number.isFinite(m) ? 'n/a' : `${m >= 0 ? '+' : ''}${f3(m)}${spread(s, seeds)}`;
}

/** The table heading's "over seeds …" words: one seed has no spread to report. */
export const overSeeds = (seeds: readonly number[]): string =>
  seeds.length === 1 ? `one seed (${seeds[0]}), so no spread is shown` : `mean ± std over seeds [${seeds.join(', ')}]`;
