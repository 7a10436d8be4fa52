// insights.json (docs/RUN-FORMAT.md): per dictionary pattern, how many training patients have it, their label
// rate against the overall rate (the association in the data), the model's interventional pattern effect
// (mean over all patients of σ(h(c, e_m)) minus the mean adjusted prediction p_do), and how often the spurious
// branch is right on the pattern's patients. A model without the deconfounding module has no h(c, e_m): its
// "effect" is then observational (mean prediction of the pattern's own patients minus the mean prediction), and
// `effect_kind` says so. Computed on the training split, whose patterns make the dictionary:
// no validation or test label is used.
import type { PatternDictionary } from '../models/types.js';

export interface PatternInsight {
  mask: string;
  count: number;
  /** Prior π_m of the dictionary. */
  prior: number;
  label_rate: number;
  observed_effect: number;
  model_effect: number;
  /** Mean σ(h(c_i, e_m)) over all patients (observational: mean prediction of the pattern's patients). */
  mean_effect_p: number;
  spurious_accuracy: number | null;
}

export interface Insights {
  split: 'train';
  /** interventional: from σ(h(c, e_m)) over all patients; observational: mean prediction within the pattern. */
  effect_kind: 'interventional' | 'observational';
  /** Overall label rate of the split. */
  marginal: number;
  /** Mean adjusted prediction p_do over the split. */
  marginal_p: number;
  patterns: PatternInsight[];
}

export interface InsightInputs {
  dict: PatternDictionary;
  labels: ArrayLike<number>;
  /** Dictionary index of each patient's pattern. */
  patternIdx: Int32Array;
  /** Adjusted predictions p_do. */
  p: Float32Array;
  /** N × P row-major σ(h(c_i, e_m)) (P = dictionary size), or null when the model has no pattern head. */
  pPatterns: Float32Array | null;
  /** σ(spurious head) per patient, or null without the dual branch. */
  pSpurious: Float32Array | null;
}

export function computeInsights(x: InsightInputs): Insights {
  const n = x.labels.length;
  const P = x.dict.masks.length;
  let pos = 0;
  let sp = 0;
  for (let i = 0; i < n; i++) {
    pos += x.labels[i];
    sp += x.p[i];
  }
  const marginal = pos / n;
  const marginalP = sp / n;
  const count = new Float64Array(P);
  const posBy = new Float64Array(P);
  const rightBy = new Float64Array(P);
  const pBy = new Float64Array(P);
  for (let i = 0; i < n; i++) {
    const m = x.patternIdx[i];
    count[m]++;
    posBy[m] += x.labels[i];
    pBy[m] += x.p[i];
    if (x.pSpurious) rightBy[m] += (x.pSpurious[i] >= 0.5 ? 1 : 0) === x.labels[i] ? 1 : 0;
  }
  const patterns: PatternInsight[] = [];
  for (let m = 0; m < P; m++) {
    let effect = count[m] ? pBy[m] / count[m] : marginalP;
    if (x.pPatterns) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x.pPatterns[i * P + m];
      effect = s / n;
    }
    const rate = count[m] ? posBy[m] / count[m] : NaN;
    patterns.push({
      mask: x.dict.masks[m],
      count: count[m],
      prior: x.dict.prior[m],
      label_rate: count[m] ? rate : 0,
      observed_effect: count[m] ? rate - marginal : 0,
      model_effect: effect - marginalP,
      mean_effect_p: effect,
      spurious_accuracy: x.pSpurious && count[m] ? rightBy[m] / count[m] : null,
    });
  }
  patterns.sort((a, b) => b.count - a.count || (a.mask < b.mask ? -1 : 1));
  return { split: 'train', effect_kind: x.pPatterns ? 'interventional' : 'observational', marginal, marginal_p: marginalP, patterns };
}
