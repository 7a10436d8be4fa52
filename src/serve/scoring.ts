// Scoring patients already turned into arrays: each patient with its K counterfactual copies (variants.ts), the
// copies of all patients of a chunk in one model call, then the answer per patient: the served risk, the factual
// risk, the pattern, and per modality the counterfactual and the contribution.
import type { ModalityInfo } from '../data/types.js';
import { assignPatterns } from '../models/patterns.js';
import type { CdmmModel } from '../models/index.js';
import type { PatternDictionary } from '../models/types.js';
import type { CalibrationRecord } from '../models/calibrator.js';
import { predictSplit, servedRisks } from '../run/predict.js';
import type { ModalityPrediction, PatientPrediction } from './types.js';
import { maskString, stackVariants } from './variants.js';
import { CdmmError } from '../util/errors.js';

/**
 * Most rows (records × their counterfactual copies) in one model call of a backbone that compares every pair of
 * rows of a call (M3Care's similarity, MUSE's graph: O(rows²)); the others take a chunk's rows in one call.
 */
const PAIRWISE_ROWS = 128;
const PAIRWISE: readonly string[] = ['m3care', 'muse'];

export interface PatientArrays {
  /** Row-major N×K. */
  mask: Uint8Array;
  values: Record<string, Float32Array>;
}

const sig = (x: number) => Number(x.toPrecision(7));

export interface ScorerOptions {
  /** The model's output for a patient depends on the other patients in its batch: one row per model call. */
  batchDependent: boolean;
  /** Patients per model call (each with its K counterfactual copies). */
  chunkSize: number;
}

export class Scorer {
  private readonly K: number;
  /** Per modality, the features that stand for "a value the model never saw" (tabular col=<other>, codes <other>). */
  private readonly unseen: { d: number; say: string }[][];

  constructor(
    private readonly model: CdmmModel,
    private readonly modalities: ModalityInfo[],
    private readonly dict: PatternDictionary,
    private readonly typical: Record<string, Float32Array> | null,
    private readonly opts: ScorerOptions,
    /** The run's calibration: applied to every risk served, the counterfactual copies' included. */
    private readonly calibration: CalibrationRecord,
  ) {
    this.K = modalities.length;
    this.unseen = modalities.map((m) =>
      m.type === 'tabular'
        ? m.features.flatMap((f, d) => (f.endsWith('=<other>') ? [{ d, say: `${m.name}: '${f.slice(0, -'=<other>'.length)}' has a value not seen in training, scored as <other>` }] : []))
        : m.type === 'codes'
          ? [{ d: m.features.length - 1, say: `${m.name}: codes outside the model's vocabulary (unseen or rare in training), counted together as <other>` }]
          : [],
    );
  }

  /**
   * Predictions for rows `rows` of the arrays (default: all), named `ids[i]` for rows[i]. Synchronous: the engine
   * runs on this thread. A patient's numbers do not depend on the other rows beyond PREDICTION_TOLERANCE (float32
   * sums per batch size); batch-dependent backbones see one row per call, so theirs not at all.
   */
  score(ids: string[], arrays: PatientArrays, rows?: ArrayLike<number>): PatientPrediction[] {
    const { K, modalities, dict } = this;
    const out: PatientPrediction[] = [];
    const total = rows ? rows.length : ids.length;
    const chunkSize = this.opts.batchDependent ? 1 : this.opts.chunkSize;
    for (let start = 0; start < total; start += chunkSize) {
      const n = Math.min(chunkSize, total - start);
      const chunk = takeRows(arrays, n, (i) => (rows ? rows[start + i] : start + i), modalities);
      const st = stackVariants(n, chunk.mask, chunk.values, modalities, this.typical);
      const pat = assignPatterns(st.mask, K, dict);
      const R = st.mask.length / K;
      // Block 0 is the factual rows, block 1 + k the copies with modality k flipped: all in one model call
      // (one row per call for batch-dependent backbones, so that the copies do not see each other).
      const rowsPerCall = this.opts.batchDependent ? 1 : PAIRWISE.includes(this.model.config.backbone) ? Math.min(R, PAIRWISE_ROWS) : R;
      const res = predictSplit(this.model, { ids: new Array<string>(R).fill(''), mask: st.mask, values: st.values }, modalities, pat, rowsPerCall);
      const { pDo, pFactual } = servedRisks(res, this.calibration);
      // Every row, the counterfactual copies too (row (k + 1)·n + i is patient i with modality k flipped).
      for (let r = 0; r < R; r++) if (!Number.isFinite(pDo[r]) || !Number.isFinite(pFactual[r])) throw overflowed(ids[start + (r % n)], chunk, r % n, modalities);
      // A probability outside [0, 1] is no input's doing: the run folder's model or calibration is damaged.
      for (let r = 0; r < R; r++)
        if (!(pDo[r] >= 0 && pDo[r] <= 1 && pFactual[r] >= 0 && pFactual[r] <= 1)) throw new CdmmError(`the run's model gave a risk of ${pDo[r]} (outside [0, 1]): its weights or calibration are damaged; retrain the run`);
      for (let i = 0; i < n; i++) {
        const p = pDo[i];
        const mods: Record<string, ModalityPrediction> = {};
        const used: string[] = [];
        modalities.forEach((m, k) => {
          const observed = chunk.mask[i * K + k] === 1;
          if (observed) used.push(m.name);
          const row = (k + 1) * n + i;
          const defined = st.defined[k * n + i] === 1;
          mods[m.name] = {
            observed,
            counterfactual: defined
              ? { change: observed ? 'removed' : 'observed', mask: maskString(st.mask, K, row), pattern: dict.masks[pat[row]], p_do: sig(pDo[row]), p_factual: sig(pFactual[row]) }
              : null,
            contribution: defined && observed ? sig(p - pDo[row]) : null,
          };
        });
        const notes: string[] = [];
        modalities.forEach((m, k) => {
          const D = m.features.length;
          for (const u of this.unseen[k]) if (chunk.values[m.name][i * D + u.d] !== 0) notes.push(u.say);
        });
        out.push({
          id: ids[start + i],
          p_do: sig(p),
          p_factual: sig(pFactual[i]),
          mask: maskString(chunk.mask, K, i),
          pattern: dict.masks[pat[i]],
          modalities_used: used,
          modalities: mods,
          ...(notes.length ? { notes } : {}),
        });
      }
    }
    return out;
  }
}

/**
 * A patient whose risk came out as no number: finite inputs (the transform checks them) so large that the model's
 * float32 sums overflowed (every embedding value 3.4e38 gave null risks with status 200). An input error naming the
 * patient and the modality holding the largest standardised value, never a NaN served as a risk.
 */
function overflowed(id: string, chunk: PatientArrays, i: number, modalities: ModalityInfo[]): CdmmError {
  let worst = '', max = 0;
  for (const m of modalities) {
    const D = m.features.length;
    for (let d = 0; d < D; d++) {
      const v = Math.abs(chunk.values[m.name][i * D + d]);
      if (v > max) { max = v; worst = m.name; }
    }
  }
  return new CdmmError(`patient ${JSON.stringify(id)}: the model's risk is not a number: its values lie too far outside training for the model's arithmetic${worst ? ` (modality '${worst}' holds a feature of magnitude ${max.toExponential(1)} as the model reads it; check the values and their units)` : ''}`);
}

/** Rows row(0..n-1) of mask and values as a compact set of arrays (the arrays themselves when they are those rows). */
function takeRows(a: PatientArrays, n: number, row: (i: number) => number, modalities: ModalityInfo[]): PatientArrays {
  const K = modalities.length;
  let contiguous = a.mask.length === n * K;
  for (let i = 0; i < n && contiguous; i++) contiguous = row(i) === i;
  if (contiguous) return a;
  const mask = new Uint8Array(n * K);
  const values: Record<string, Float32Array> = {};
  for (let i = 0; i < n; i++) mask.set(a.mask.subarray(row(i) * K, (row(i) + 1) * K), i * K);
  for (const m of modalities) {
    const D = m.shape.reduce((x, y) => x * y, 1);
    const src = a.values[m.name];
    const dst = new Float32Array(n * D);
    for (let i = 0; i < n; i++) dst.set(src.subarray(row(i) * D, (row(i) + 1) * D), i * D);
    values[m.name] = dst;
  }
  return { mask, values };
}
