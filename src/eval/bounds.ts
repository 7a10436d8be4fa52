// Reference bounds for a benchmark: the oracle (AUROC of the true risk, simulated data only) and the
// in-distribution ceiling (a logistic regression cross-validated inside the shift environment on the same input
// features: what a model could reach had it been trained where it is tested). Plain TypeScript, no engine.
import type { ModalityInfo, PreparedDataset, SplitArrays } from '../data/types.js';
import { CdmmError } from '../util/errors.js';
import { auroc } from './metrics.js';
import { Mulberry32 } from './rng.js';

export interface Bounds {
  /** AUROC of the spec's true_risk column on the test and shift splits; null when the spec declares none. */
  oracle: { test: number | null; shift: number | null } | null;
  /** Mean of the fold AUROCs of the ceiling model; null without a shift split or with too few patients. */
  ceiling_shift: number | null;
  /** Each fold's AUROC (held-out part of the shift environment), in fold order. */
  ceiling_folds: number[];
  /** What the ceiling is, in words (model, folds, penalty, seed). */
  ceiling_model: string;
  /** The split seed of the prepared dataset the bounds were computed on (null: a column split, fixed by the data). */
  split_seed: number | null;
  /** Size and positives of the shift split (absent without one, and in benchmarks written before these fields). */
  shift_n?: number;
  shift_positives?: number;
}

/** Fewer positives (or negatives) than this in the shift split: its AUROCs, the ceiling included, are noisy. */
export const FEW_SHIFT_POSITIVES = 50;

export interface CeilingOptions {
  folds?: number;
  seed?: number;
  /** L2 penalty λ on the standardised weights (objective: mean log-loss + λ/2·‖w‖²; the intercept is free). */
  l2?: number;
  maxIter?: number;
}

export const CEILING_DEFAULTS = { folds: 5, seed: 0, l2: 1e-2, maxIter: 300 } as const;

const nanToNull = (x: number) => (Number.isFinite(x) ? x : null);

/**
 * One row per patient: every modality's values (zeros where missing, as the prepared dataset holds them) followed
 * by the K mask indicators. Row-major N × D.
 */
export function flattenFeatures(s: SplitArrays, modalities: ModalityInfo[]): { X: Float32Array; N: number; D: number } {
  const N = s.ids.length;
  const K = modalities.length;
  const widths = modalities.map((m) => m.shape.reduce((a, b) => a * b, 1));
  const D = widths.reduce((a, b) => a + b, 0) + K;
  const X = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    let o = i * D;
    modalities.forEach((m, k) => {
      const w = widths[k];
      const v = s.values[m.name];
      if (!v || v.length !== N * w) throw new CdmmError(`bounds: modality ${m.name} has ${v?.length ?? 0} values, expected ${N} × ${w}`);
      X.set(v.subarray(i * w, (i + 1) * w), o);
      o += w;
    });
    for (let k = 0; k < K; k++) X[o + k] = s.mask[i * K + k];
  }
  return { X, N, D };
}

/** Column means and standard deviations over the given rows (sd 0 for a constant column). */
function standardiser(X: Float32Array, D: number, rows: Int32Array): { mu: Float64Array; sd: Float64Array } {
  const mu = new Float64Array(D), sd = new Float64Array(D);
  for (const i of rows) for (let j = 0; j < D; j++) mu[j] += X[i * D + j];
  for (let j = 0; j < D; j++) mu[j] /= rows.length;
  for (const i of rows) for (let j = 0; j < D; j++) { const d = X[i * D + j] - mu[j]; sd[j] += d * d; }
  for (let j = 0; j < D; j++) sd[j] = Math.sqrt(sd[j] / rows.length);
  return { mu, sd };
}

/** The rows, standardised with (mu, sd); constant columns become 0. A new array: X is not changed. */
function standardise(X: Float32Array, D: number, rows: Int32Array, mu: Float64Array, sd: Float64Array): Float64Array {
  const Z = new Float64Array(rows.length * D);
  rows.forEach((i, r) => {
    for (let j = 0; j < D; j++) Z[r * D + j] = sd[j] > 1e-12 ? (X[i * D + j] - mu[j]) / sd[j] : 0;
  });
  return Z;
}

export interface LogisticModel { w: Float64Array; b: number; iterations: number }

/**
 * L2-regularised logistic regression on Z (N × D, already standardised), by L-BFGS (memory 10) with a
 * backtracking line search: minimises mean log-loss + λ/2·‖w‖² (the intercept is not penalised).
 */
export function fitLogistic(Z: Float64Array, y: ArrayLike<number>, N: number, D: number, l2: number, maxIter = 300): LogisticModel {
  const P = D + 1; // weights, then the intercept
  const z = new Float64Array(N);
  const evaluate = (theta: Float64Array, grad: Float64Array): number => {
    let loss = 0;
    grad.fill(0);
    for (let i = 0; i < N; i++) {
      let s = theta[D];
      const o = i * D;
      for (let j = 0; j < D; j++) s += Z[o + j] * theta[j];
      z[i] = s;
      loss += Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - y[i] * s;
      const r = (1 / (1 + Math.exp(-s)) - y[i]) / N;
      for (let j = 0; j < D; j++) grad[j] += r * Z[o + j];
      grad[D] += r;
    }
    loss /= N;
    for (let j = 0; j < D; j++) { loss += 0.5 * l2 * theta[j] * theta[j]; grad[j] += l2 * theta[j]; }
    return loss;
  };
  const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let j = 0; j < P; j++) s += a[j] * b[j]; return s; };
  const m = 10;
  const S: Float64Array[] = [], Yh: Float64Array[] = [], rho: number[] = [];
  let theta = new Float64Array(P);
  let g = new Float64Array(P);
  let f = evaluate(theta, g);
  const dir = new Float64Array(P), alpha = new Float64Array(m);
  let it = 0;
  for (; it < maxIter; it++) {
    let gmax = 0;
    for (let j = 0; j < P; j++) gmax = Math.max(gmax, Math.abs(g[j]));
    if (gmax < 1e-7) break;
    // Two-loop recursion: dir = −H·g.
    for (let j = 0; j < P; j++) dir[j] = -g[j];
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], dir);
      for (let j = 0; j < P; j++) dir[j] -= alpha[k] * Yh[k][j];
    }
    const gamma = S.length ? dot(S[S.length - 1], Yh[S.length - 1]) / dot(Yh[S.length - 1], Yh[S.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let j = 0; j < P; j++) dir[j] *= gamma;
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k] * dot(Yh[k], dir);
      for (let j = 0; j < P; j++) dir[j] += (alpha[k] - beta) * S[k][j];
    }
    let slope = dot(g, dir);
    if (!(slope < 0)) { // not a descent direction: restart from steepest descent
      S.length = Yh.length = rho.length = 0;
      for (let j = 0; j < P; j++) dir[j] = -g[j] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, dir);
    }
    let step = 1;
    const next = new Float64Array(P), gNext = new Float64Array(P);
    let fNext = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < P; j++) next[j] = theta[j] + step * dir[j];
      fNext = evaluate(next, gNext);
      if (fNext <= f + 1e-4 * step * slope) break;
      step /= 2;
    }
    if (!(fNext < f)) break; // no progress possible at this precision
    const s = new Float64Array(P), yv = new Float64Array(P);
    for (let j = 0; j < P; j++) { s[j] = next[j] - theta[j]; yv[j] = gNext[j] - g[j]; }
    const sy = dot(s, yv);
    if (sy > 1e-12) {
      if (S.length === m) { S.shift(); Yh.shift(); rho.shift(); }
      S.push(s); Yh.push(yv); rho.push(1 / sy);
    }
    const done = Math.abs(f - fNext) <= 1e-10 * Math.max(1, Math.abs(f));
    theta = next; g = gNext; f = fNext;
    if (done) { it++; break; }
  }
  return { w: theta.subarray(0, D), b: theta[D], iterations: it };
}

/** Stratified folds: each class shuffled with the seed and dealt round-robin (one deal across both classes); returns each patient's fold. */
export function stratifiedFolds(y: ArrayLike<number>, folds: number, seed: number): Int32Array {
  const rng = new Mulberry32(seed);
  const fold = new Int32Array(y.length);
  let next = 0; // dealt on across the classes, so that fold sizes differ by at most one
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === cls) idx.push(i);
    for (let i = idx.length - 1; i > 0; i--) { const j = rng.index(i + 1); [idx[i], idx[j]] = [idx[j], idx[i]]; }
    for (const i of idx) fold[i] = next++ % folds;
  }
  return fold;
}

/**
 * Cross-validated AUROC of the logistic regression inside one split: per fold, standardise on the training part,
 * fit, score the held-out part. Returns the fold AUROCs ([] when a class has fewer patients than folds).
 */
export function crossValidatedCeiling(s: SplitArrays, modalities: ModalityInfo[], opts: CeilingOptions = {}): number[] {
  const { folds, seed, l2, maxIter } = { ...CEILING_DEFAULTS, ...opts };
  const y = s.labels;
  const pos = y.reduce((a, v) => a + v, 0);
  if (pos < folds || y.length - pos < folds) return [];
  const { X, D } = flattenFeatures(s, modalities);
  const fold = stratifiedFolds(y, folds, seed);
  const out: number[] = [];
  for (let f = 0; f < folds; f++) {
    const tr: number[] = [], te: number[] = [];
    fold.forEach((k, i) => (k === f ? te : tr).push(i));
    const trRows = Int32Array.from(tr), teRows = Int32Array.from(te);
    const { mu, sd } = standardiser(X, D, trRows);
    const model = fitLogistic(standardise(X, D, trRows, mu, sd), Float64Array.from(tr, (i) => y[i]), tr.length, D, l2, maxIter);
    const Zte = standardise(X, D, teRows, mu, sd);
    const score = new Float64Array(te.length);
    for (let r = 0; r < te.length; r++) {
      let v = model.b;
      for (let j = 0; j < D; j++) v += Zte[r * D + j] * model.w[j];
      score[r] = 1 / (1 + Math.exp(-v));
    }
    out.push(auroc(Float64Array.from(te, (i) => y[i]), score));
  }
  return out;
}

/** The oracle and the in-distribution ceiling of a prepared dataset (see Bounds). */
export function computeBounds(ds: PreparedDataset, splitSeed: number | null, opts: CeilingOptions = {}): Bounds {
  const o = { ...CEILING_DEFAULTS, ...opts };
  const risk = (s?: SplitArrays) => (s?.trueRisk ? nanToNull(auroc(s.labels, s.trueRisk)) : null);
  const oracle = ds.splits.test.trueRisk ? { test: risk(ds.splits.test), shift: risk(ds.splits.shift) } : null;
  const foldsAuc = ds.splits.shift ? crossValidatedCeiling(ds.splits.shift, ds.modalities, o) : [];
  const finite = foldsAuc.length > 0 && foldsAuc.every(Number.isFinite);
  return {
    oracle,
    ceiling_shift: finite ? foldsAuc.reduce((a, b) => a + b, 0) / foldsAuc.length : null,
    ceiling_folds: foldsAuc.map((x) => (Number.isFinite(x) ? x : NaN)),
    ceiling_model: `logistic regression (L2 λ = ${o.l2} on standardised inputs: all modality values, zeros where missing, and the mask), ${o.folds} stratified folds (seed ${o.seed}) inside the shift split`,
    split_seed: splitSeed,
    ...(ds.splits.shift ? { shift_n: ds.splits.shift.labels.length, shift_positives: ds.splits.shift.labels.reduce((a, b) => a + b, 0) } : {}),
  };
}
