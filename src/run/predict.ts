// Inference over a whole split in batches (no gradients, eval mode): the prediction p (p_do with
// deconfounding), the factual prediction, the spurious head, and the per-pattern predictions σ(h(c, e_m)).
import { noGrad, tidy } from '../engine/index.js';
import { makeBatch } from '../models/batch.js';
import type { CdmmModel } from '../models/index.js';
import type { ModalityInfo, SplitArrays } from '../data/types.js';
import { applyCalibration, type CalibrationRecord } from '../models/calibrator.js';

export interface SplitOutputs {
  n: number;
  p: Float32Array;
  pFactual: Float32Array;
  /** σ(spurious head), when the dual branch is on. */
  pSpurious: Float32Array | null;
  /** N × P row-major σ(h(c_i, e_m)) for every dictionary pattern m, when deconfounding is on. */
  pPatterns: Float32Array | null;
  patterns: number;
}

export type SplitInput = Pick<SplitArrays, 'mask' | 'values'> & { ids: string[] };

export function predictSplit(
  model: CdmmModel, split: SplitInput, modalities: ModalityInfo[], patternIdx: Int32Array, batchSize: number,
): SplitOutputs {
  const n = split.ids.length;
  const wasTraining = model.training;
  model.eval();
  const p = new Float32Array(n);
  const pFactual = new Float32Array(n);
  let pSpurious: Float32Array | null = null;
  let pPatterns: Float32Array | null = null;
  let P = 0;
  try {
    noGrad(() => {
      for (let start = 0; start < n; start += batchSize) {
        const rows = new Int32Array(Math.min(batchSize, n - start));
        for (let r = 0; r < rows.length; r++) rows[r] = start + r;
        tidy(() => {
          const batch = makeBatch(split as SplitArrays, rows, modalities, patternIdx);
          const out = model.forward(batch);
          p.set(out.p.toArray() as Float32Array, start);
          pFactual.set(out.logitFactual.sigmoid().toArray() as Float32Array, start);
          if (out.logitSpurious) {
            pSpurious ??= new Float32Array(n);
            pSpurious.set(out.logitSpurious.sigmoid().toArray() as Float32Array, start);
          }
          if (out.logitsAll) {
            P = out.logitsAll.size(1);
            pPatterns ??= new Float32Array(n * P);
            pPatterns.set(out.logitsAll.sigmoid().contiguous().toArray() as Float32Array, start * P);
          }
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { n, p, pFactual, pSpurious, pPatterns, patterns: P };
}

/**
 * The risks a patient is served, from the model's outputs: the one place they are computed, shared by training's
 * scored splits (metrics.json, predictions.json), `cdmm evaluate`, `cdmm predict` and `cdmm serve`. The run's
 * calibration (fitted on validation p_do) maps both p_do and p_factual, so that the two stay on one scale and
 * counterfactual contributions are differences of calibrated risks. `pDoRaw` is the model's own p_do.
 */
export function servedRisks(out: Pick<SplitOutputs, 'p' | 'pFactual'>, calibration: CalibrationRecord): { pDo: Float32Array; pFactual: Float32Array; pDoRaw: Float32Array } {
  return { pDo: intoUnit(applyCalibration(calibration, out.p)), pFactual: intoUnit(applyCalibration(calibration, out.pFactual)), pDoRaw: out.p };
}

/** Float32 rounding of the back-door sum (sigmoids weighted by a prior summing to 1 ± 1 ulp) can overshoot [0, 1] by a few ulp. */
const UNIT_SLACK = 1e-5;

/** Risks within UNIT_SLACK of [0, 1] clipped into it; anything further out is left for the callers to refuse. */
function intoUnit(p: Float32Array): Float32Array {
  for (let i = 0; i < p.length; i++) {
    const x = p[i];
    if (x > 1 && x <= 1 + UNIT_SLACK) p[i] = 1;
    else if (x < 0 && x >= -UNIT_SLACK) p[i] = 0;
  }
  return p;
}

/** Mask rows as strings of 0/1 ("1011"), the pattern notation of the run folder. */
export function maskStrings(mask: Uint8Array, K: number): string[] {
  const n = mask.length / K;
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let s = '';
    for (let k = 0; k < K; k++) s += mask[i * K + k] ? '1' : '0';
    out[i] = s;
  }
  return out;
}

