// Typical values of each modality: the mean feature vector over the patients of a split who have it observed,
// in the model's input space. Stored in a run's manifest so that serving can form the counterfactual "had this
// missing modality been observed at typical values" without the training tables.
import type { ModalityInfo, SplitArrays } from './types.js';

/** Mean feature vector of each modality over the rows where it is observed. */
export function observedMeans(split: Pick<SplitArrays, 'mask' | 'values'>, modalities: ModalityInfo[]): Record<string, Float32Array> {
  const K = modalities.length;
  const n = split.mask.length / K;
  const out: Record<string, Float32Array> = {};
  modalities.forEach((m, k) => {
    const D = m.shape.reduce((a, b) => a * b, 1);
    const sum = new Float64Array(D);
    let count = 0;
    const v = split.values[m.name];
    for (let i = 0; i < n; i++) {
      if (!split.mask[i * K + k]) continue;
      count++;
      for (let d = 0; d < D; d++) sum[d] += v[i * D + d];
    }
    out[m.name] = Float32Array.from(sum, (s) => (count ? s / count : 0));
  });
  return out;
}
