// Per-patient balancing weights of the debiasing parts. Each function returns a new Float32Array with mean 1 over
// the patients it is given and no weight above `cap` (bounded, normalised weights: a model cannot be pushed into
// the anti-shortcut by a few huge weights).

/** Rescales to mean 1, caps at `cap`, and repeats (capping lowers the mean) until stable. */
export function normaliseWeights(w: Float32Array, cap: number): Float32Array {
  const out = Float32Array.from(w);
  for (let it = 0; it < 20; it++) {
    let s = 0;
    for (const v of out) s += v;
    const m = s / out.length;
    if (!(m > 0)) return out.fill(1);
    let clipped = false;
    for (let i = 0; i < out.length; i++) {
      out[i] /= m;
      if (out[i] > cap) { out[i] = cap; clipped = true; }
    }
    if (!clipped) break;
  }
  return out;
}

/**
 * Weights that make the group independent of the label in the weighted set: w(g, y) = (P(g) P(y) / P(g, y))^power,
 * computed from the patients given (training or, for selection, validation). power 0 = all 1.
 */
export function groupLabelWeights(group: ArrayLike<number>, labels: ArrayLike<number>, groups: number, power: number, cap: number): Float32Array {
  const n = labels.length;
  const joint = new Float64Array(groups * 2);
  const pg = new Float64Array(groups);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i] >= 0.5 ? 1 : 0;
    joint[group[i] * 2 + y]++;
    pg[group[i]]++;
    pos += y;
  }
  const py = [1 - pos / n, pos / n];
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const y = labels[i] >= 0.5 ? 1 : 0;
    const ratio = ((pg[group[i]] / n) * py[y]) / (joint[group[i] * 2 + y] / n);
    w[i] = power === 0 ? 1 : Math.pow(ratio, power);
  }
  return normaliseWeights(w, cap);
}

/** Product of weight vectors, renormalised and capped. */
export function combineWeights(parts: Float32Array[], cap: number): Float32Array {
  const out = new Float32Array(parts[0].length).fill(1);
  for (const p of parts) for (let i = 0; i < out.length; i++) out[i] *= p[i];
  return normaliseWeights(out, cap);
}

/** Quantile edges (bins − 1 inner cut points) of the scores of all patients given. */
export function quantileEdges(scores: ArrayLike<number>, bins: number): number[] {
  const xs = Array.from(scores).sort((a, b) => a - b);
  if (xs.length === 0) return [];
  return Array.from({ length: bins - 1 }, (_, j) => xs[Math.min(xs.length - 1, Math.floor(((j + 1) * xs.length) / bins))]);
}

/** Each patient's score bin for the given edges: an index in [0, edges.length]. */
export function scoreBins(scores: ArrayLike<number>, edges: number[]): Int32Array {
  const g = new Int32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    let b = 0;
    for (const e of edges) if (scores[i] > e) b++;
    g[i] = b;
  }
  return g;
}
