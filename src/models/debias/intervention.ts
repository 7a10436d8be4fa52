// do(M): the intervention on the missingness pattern used in training (METHOD.md v2, component 1). Each training
// patient's observed set is, with probability `rate`, intersected with the observed set of another training patient
// drawn uniformly, i.e. with a pattern drawn from the training prior. Intersection only ever hides data, so no
// value is invented; when the intersection is empty the patient keeps its own set.
import type { ModelConfig } from '../types.js';

/** The intervention rate for a training split of n patients: a number in [0, 1], or 'auto' = n / (n + 2000). */
export function interventionRate(cfg: Pick<ModelConfig, 'intervention'>, n: number): number {
  const r = cfg.intervention ?? 'auto';
  if (r === 'auto') return n / (n + 2000); // small cohorts keep more of their own data (measured: docs/RESULTS.md)
  if (!(r >= 0 && r <= 1)) throw new Error(`intervention must be 'auto' or a number in [0, 1], got ${String(r)}`);
  return r;
}

/**
 * The batch mask (B×K) after do(M) for the training `rows` of a split's N×K mask: a new array, the input untouched.
 * `rand` is the intervention's own seeded stream.
 */
export function interveneMasks(masks: Uint8Array, K: number, rows: ArrayLike<number>, rate: number, rand: () => number): Uint8Array {
  const n = masks.length / K;
  const b = rows.length;
  const out = new Uint8Array(b * K);
  for (let i = 0; i < b; i++) {
    const r = rows[i];
    const own = masks.subarray(r * K, r * K + K);
    out.set(own, i * K);
    if (rand() >= rate) continue;
    const donor = Math.min(n - 1, Math.floor(rand() * n));
    let kept = 0;
    for (let k = 0; k < K; k++) kept += own[k] & masks[donor * K + k];
    if (kept === 0) continue;
    for (let k = 0; k < K; k++) out[i * K + k] = own[k] & masks[donor * K + k];
  }
  return out;
}
