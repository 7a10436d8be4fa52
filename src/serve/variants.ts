// The counterfactual inputs scored with each patient: the factual arrays, then one copy per modality k in which
// k is flipped: a missing modality made observed at typical values (mask bit 1), a present one removed (mask
// bit 0, values zeroed, exactly how the data layer encodes a missing modality). Stacked block by block
// (block 0 factual, block 1+k flips modality k), so one model call per block scores every patient.
import type { ModalityInfo } from '../data/types.js';

export type Change = 'observed' | 'removed';

export interface StackedVariants {
  /** (K+1)·n rows, row-major mask. */
  mask: Uint8Array;
  values: Record<string, Float32Array>;
  /** Per block b ≥ 1 and patient i, at (b−1)·n + i: 1 when the flip is defined (see `why`). */
  defined: Uint8Array;
}

function width(m: ModalityInfo): number {
  return m.shape.reduce((a, b) => a * b, 1);
}

/**
 * Stacks the factual rows and the K flipped copies. A flip is undefined (row left factual, `defined` 0) when it
 * would remove a patient's only observed modality, or make a modality observed without typical values for it.
 */
export function stackVariants(
  n: number, mask: Uint8Array, values: Record<string, Float32Array>, modalities: ModalityInfo[],
  typical: Record<string, Float32Array> | null,
): StackedVariants {
  const K = modalities.length;
  const blocks = K + 1;
  const outMask = new Uint8Array(blocks * n * K);
  for (let b = 0; b < blocks; b++) outMask.set(mask.subarray(0, n * K), b * n * K);
  const outValues: Record<string, Float32Array> = {};
  for (const m of modalities) {
    const D = width(m);
    const src = values[m.name].subarray(0, n * D);
    const out = new Float32Array(blocks * n * D);
    for (let b = 0; b < blocks; b++) out.set(src, b * n * D);
    outValues[m.name] = out;
  }
  const defined = new Uint8Array(K * n);
  modalities.forEach((m, k) => {
    const D = width(m);
    const b = k + 1;
    const typ = typical?.[m.name] ?? null;
    for (let i = 0; i < n; i++) {
      const row = b * n + i;
      const observed = mask[i * K + k] === 1;
      if (observed) {
        let others = 0;
        for (let j = 0; j < K; j++) if (j !== k) others += mask[i * K + j];
        if (others === 0) continue;
        outMask[row * K + k] = 0;
        outValues[m.name].fill(0, row * D, (row + 1) * D);
      } else {
        if (!typ) continue;
        outMask[row * K + k] = 1;
        outValues[m.name].set(typ, row * D);
      }
      defined[k * n + i] = 1;
    }
  });
  return { mask: outMask, values: outValues, defined };
}

/** Mask rows as strings of 0/1 ("1011"), the pattern notation of the run folder. */
export function maskString(mask: Uint8Array, K: number, row: number): string {
  let s = '';
  for (let k = 0; k < K; k++) s += mask[row * K + k] ? '1' : '0';
  return s;
}
