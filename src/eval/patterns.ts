import { CdmmError } from '../util/errors.js';
import { auprc, auroc, brier, checkInputs, type Vec } from './metrics.js';

/** Metrics within one missingness pattern (RUN-FORMAT.md PatternMetrics). */
export interface PatternMetrics {
  mask: string;
  n: number;
  prevalence: number;
  /** null when the pattern has one class only. */
  auroc: number | null;
  /** null when the pattern has one class only (AP with no negative is trivially 1, so it says nothing). */
  auprc: number | null;
  brier: number;
  mean_p: number;
}

/** Groups patients by mask string ("1011"), largest pattern first (ties by mask). */
export function perPatternMetrics(y: Vec, p: Vec, masks: string[]): PatternMetrics[] {
  checkInputs(y, p, 'perPatternMetrics');
  if (masks.length !== y.length) throw new CdmmError(`perPatternMetrics: ${y.length} labels but ${masks.length} masks`);
  const groups = new Map<string, number[]>();
  masks.forEach((m, i) => {
    const g = groups.get(m);
    if (g) g.push(i);
    else groups.set(m, [i]);
  });
  const out: PatternMetrics[] = [];
  for (const [mask, idx] of groups) {
    const yy = Float64Array.from(idx, (i) => y[i]);
    const pp = Float64Array.from(idx, (i) => p[i]);
    let pos = 0;
    let sp = 0;
    for (let k = 0; k < idx.length; k++) {
      pos += yy[k];
      sp += pp[k];
    }
    const twoClasses = pos > 0 && pos < idx.length;
    out.push({
      mask,
      n: idx.length,
      prevalence: pos / idx.length,
      auroc: twoClasses ? auroc(yy, pp) : null,
      auprc: twoClasses ? auprc(yy, pp) : null,
      brier: brier(yy, pp),
      mean_p: sp / idx.length,
    });
  }
  return out.sort((a, b) => b.n - a.n || (a.mask < b.mask ? -1 : a.mask > b.mask ? 1 : 0));
}
