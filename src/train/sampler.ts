// Mini-batches by patient: a seeded shuffle of the training rows every epoch (a JS PRNG, so the order is the
// same for the same seed on every machine), cut into batches.
import { mulberry32 } from '../data/rng.js';

export class PatientSampler {
  private readonly rand: () => number;
  constructor(private readonly n: number, private readonly batchSize: number, seed: number) {
    // Offset so the shuffle stream differs from other users of the same seed.
    this.rand = mulberry32((seed * 2654435761 + 0x5bd1e995) >>> 0);
  }

  /** Number of batches per epoch. */
  get batchesPerEpoch(): number {
    return cutPoints(this.n, this.batchSize).length - 1;
  }

  /** The next epoch's batches: row indices, every patient exactly once. */
  nextEpoch(): Int32Array[] {
    const order = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    for (let i = this.n - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    const cuts = cutPoints(this.n, this.batchSize);
    const out: Int32Array[] = [];
    for (let b = 0; b + 1 < cuts.length; b++) out.push(order.subarray(cuts[b], cuts[b + 1]));
    return out;
  }
}

/**
 * Batch boundaries. A short last batch (under a quarter of the batch size) joins the one before it: a batch of
 * a handful of patients gives a noisy step and degenerate batch statistics (HSIC, in-batch imputation).
 */
export function cutPoints(n: number, batchSize: number): number[] {
  const cuts = [0];
  for (let s = batchSize; s < n; s += batchSize) cuts.push(s);
  cuts.push(n);
  if (cuts.length > 2 && n - cuts[cuts.length - 2] < Math.max(2, batchSize / 4)) cuts.splice(cuts.length - 2, 1);
  return cuts;
}
