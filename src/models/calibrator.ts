// Post-hoc calibration of the served risk (issue 9, item 5): a monotone map fitted on the validation split's
// predictions and labels, stored in the run manifest, applied by predict, serve and evaluate. Pure and small:
// fitCalibrator learns a serialisable record, applyCalibration maps risks (never mutating its input). No engine.
//
// Methods: 'platt' (σ(a·logit p + b), Newton on the log loss with Platt's label smoothing and a tiny L2 towards
// the identity map a = 1, b = 0, so it cannot blow up on separable or one-class validation sets, and a validation
// set that says nothing about the slope leaves it at 1), 'temperature' (σ(logit p / t): Platt with b = 0),
// 'isotonic' (pool-adjacent-violators, linearly interpolated between block centres, at most 1000 points) and
// 'none'. A fitted slope ≤ 0.01 (or a non-finite fit) would flatten or reverse the ranking: then the record is
// 'none' with the reason in `fallback`.

export type CalibrationMethod = 'platt' | 'temperature' | 'isotonic' | 'none';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['platt', 'temperature', 'isotonic', 'none'];

export type CalibrationRecord =
  | { method: 'platt'; a: number; b: number }
  | { method: 'temperature'; t: number }
  | { method: 'isotonic'; x: number[]; y: number[] }
  | { method: 'none'; requested?: CalibrationMethod; fallback?: string };

/** Probabilities are clamped to [EPS, 1 − EPS] before the logit. */
export const CALIBRATION_EPS = 1e-6;
/** Smallest slope (1/t for temperature) accepted: below it the map would all but flatten the ranking. */
export const MIN_SLOPE = 0.01;
/** Most interpolation points of an isotonic map (the manifest schema holds the same bound). */
export const MAX_ISOTONIC_POINTS = 1000;
/** L2 penalty on (a − 1, b) relative to the patient count: keeps Newton's system well posed, moves no real fit. */
const L2 = 1e-4;

const clampP = (v: number) => Math.min(1 - CALIBRATION_EPS, Math.max(CALIBRATION_EPS, v));
const logit = (v: number) => {
  const c = clampP(v);
  return Math.log(c / (1 - c));
};
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

function checkFitInputs(p: ArrayLike<number>, y: ArrayLike<number>): void {
  if (p.length !== y.length) throw new Error(`fitCalibrator: ${p.length} predictions but ${y.length} labels`);
  for (let i = 0; i < p.length; i++) {
    if (!(p[i] >= 0 && p[i] <= 1)) throw new Error(`fitCalibrator: prediction ${i} is ${p[i]}, expected a probability in [0, 1]`);
    if (y[i] !== 0 && y[i] !== 1) throw new Error(`fitCalibrator: label ${i} is ${y[i]}, expected 0 or 1`);
  }
}

/** Platt's smoothed targets: (N₊ + 1)/(N₊ + 2) for positives, 1/(N₋ + 2) for negatives. */
function smoothedTargets(y: ArrayLike<number>): Float64Array {
  let pos = 0;
  for (let i = 0; i < y.length; i++) pos += y[i];
  const neg = y.length - pos;
  const hi = (pos + 1) / (pos + 2), lo = 1 / (neg + 2);
  return Float64Array.from({ length: y.length }, (_, i) => (y[i] === 1 ? hi : lo));
}

/** Penalised log loss of σ(a z + b) against targets t (b fixed at 0 when !withB); the penalty is towards a = 1, b = 0. */
function loss(z: Float64Array, t: Float64Array, a: number, b: number, lam: number): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    const u = a * z[i] + b;
    // log(1 + e^u) − t·u, stable for large |u|
    s += (u > 0 ? u + Math.log1p(Math.exp(-u)) : Math.log1p(Math.exp(u))) - t[i] * u;
  }
  return s + 0.5 * lam * ((a - 1) * (a - 1) + b * b);
}

/** Newton's method with step halving on the penalised log loss; a = slope, b = intercept (0 when !withB). */
function fitLogistic(z: Float64Array, t: Float64Array, withB: boolean): { a: number; b: number } {
  const lam = L2 * Math.max(1, z.length);
  let a = 1, b = 0;
  let f = loss(z, t, a, b, lam);
  for (let iter = 0; iter < 100; iter++) {
    let ga = lam * (a - 1), gb = withB ? lam * b : 0, haa = lam, hab = 0, hbb = withB ? lam : 1;
    for (let i = 0; i < z.length; i++) {
      const q = sigmoid(a * z[i] + b);
      const r = q - t[i];
      const w = q * (1 - q);
      ga += r * z[i];
      haa += w * z[i] * z[i];
      if (withB) {
        gb += r;
        hab += w * z[i];
        hbb += w;
      }
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = withB ? (haa * gb - hab * ga) / det : 0;
    let step = 1;
    let next = f;
    for (; step > 1e-8; step /= 2) {
      next = loss(z, t, a - step * da, b - step * db, lam);
      if (next <= f) break;
    }
    if (step <= 1e-8) break;
    a -= step * da;
    b -= step * db;
    const done = Math.abs(f - next) < 1e-12 * Math.max(1, Math.abs(f)) || Math.max(Math.abs(step * da), Math.abs(step * db)) < 1e-10;
    f = next;
    if (done) break;
  }
  return { a, b };
}

/** Pool-adjacent-violators on (p, y) sorted by p, ties pooled first; block centres as interpolation points. */
function fitIsotonic(p: ArrayLike<number>, y: ArrayLike<number>): { x: number[]; y: number[] } {
  const order = Array.from({ length: p.length }, (_, i) => i).sort((i, j) => p[i] - p[j]);
  // Blocks: sum of p, sum of y, weight.
  const sp: number[] = [], sy: number[] = [], w: number[] = [];
  let k = 0;
  while (k < order.length) {
    let j = k, bp = 0, by = 0;
    const v = p[order[k]];
    while (j < order.length && p[order[j]] === v) {
      bp += p[order[j]];
      by += y[order[j]];
      j++;
    }
    sp.push(bp);
    sy.push(by);
    w.push(j - k);
    // Merge backwards while the block means decrease.
    while (sp.length > 1 && sy[sy.length - 2] / w[w.length - 2] >= sy[sy.length - 1] / w[w.length - 1]) {
      const n = sp.length;
      sp[n - 2] += sp[n - 1];
      sy[n - 2] += sy[n - 1];
      w[n - 2] += w[n - 1];
      sp.pop();
      sy.pop();
      w.pop();
    }
    k = j;
  }
  let xs = sp.map((s, i) => s / w[i]);
  let ys = sy.map((s, i) => s / w[i]);
  if (xs.length > MAX_ISOTONIC_POINTS) {
    // Thinning keeps the first and last points and evenly spaced ones between: still strictly increasing in x
    // and increasing in y, so the map stays monotone.
    const idx = Array.from({ length: MAX_ISOTONIC_POINTS }, (_, i) => Math.round((i * (xs.length - 1)) / (MAX_ISOTONIC_POINTS - 1)));
    xs = idx.map((i) => xs[i]);
    ys = idx.map((i) => ys[i]);
  }
  return { x: xs, y: ys };
}

/**
 * Fits a calibration map on validation predictions p and labels y (0/1). Returns a serialisable record; 'none'
 * with `fallback` when the requested method cannot be fitted safely (no patients, a slope ≤ 0.01, a non-finite fit).
 */
export function fitCalibrator(method: CalibrationMethod, p: ArrayLike<number>, y: ArrayLike<number>): CalibrationRecord {
  checkFitInputs(p, y);
  if (method === 'none') return { method: 'none' };
  const fallback = (why: string): CalibrationRecord => ({ method: 'none', requested: method, fallback: why });
  if (p.length === 0) return fallback('no validation patients');
  if (method === 'isotonic') return { method: 'isotonic', ...fitIsotonic(p, y) };
  const z = Float64Array.from({ length: p.length }, (_, i) => logit(p[i]));
  const t = smoothedTargets(y);
  // Platt is fitted on centred logits, σ(a·(z − z̄) + b′), b = b′ − a·z̄: the mean shift then lies in b′ alone,
  // so the penalty towards a = 1 acts on what the spread of the risks says about the slope, not on a level
  // correction (risks that barely vary would otherwise turn a level shift into a flat or reversed slope).
  const zbar = method === 'platt' ? z.reduce((u, v) => u + v, 0) / z.length : 0;
  const zc = zbar === 0 ? z : z.map((v) => v - zbar);
  const fit = fitLogistic(zc, t, method === 'platt');
  const a = fit.a, b = fit.b - fit.a * zbar;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return fallback('non-finite fit');
  if (a <= MIN_SLOPE) return fallback(`slope ≤ ${MIN_SLOPE}`);
  return method === 'platt' ? { method: 'platt', a, b } : { method: 'temperature', t: 1 / a };
}

/** Linear interpolation in a monotone table, constant beyond its ends. */
function interpolate(xs: number[], ys: number[], v: number): number {
  const n = xs.length;
  if (v <= xs[0]) return ys[0];
  if (v >= xs[n - 1]) return ys[n - 1];
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= v) lo = mid;
    else hi = mid;
  }
  const f = (v - xs[lo]) / (xs[hi] - xs[lo]);
  return ys[lo] + f * (ys[hi] - ys[lo]);
}

/** The calibrated risks: a new array, the input untouched. */
export function applyCalibration(rec: CalibrationRecord, p: ArrayLike<number>): Float32Array {
  const out = new Float32Array(p.length);
  switch (rec.method) {
    case 'none':
      for (let i = 0; i < p.length; i++) out[i] = p[i];
      break;
    case 'platt':
      for (let i = 0; i < p.length; i++) out[i] = sigmoid(rec.a * logit(p[i]) + rec.b);
      break;
    case 'temperature':
      for (let i = 0; i < p.length; i++) out[i] = sigmoid(logit(p[i]) / rec.t);
      break;
    case 'isotonic':
      for (let i = 0; i < p.length; i++) out[i] = interpolate(rec.x, rec.y, p[i]);
      break;
  }
  return out;
}

/** One line for summaries: "platt (a 1.23, b −0.45)", "none (requested platt: slope ≤ 0.01)". */
export function describeCalibration(rec: CalibrationRecord): string {
  switch (rec.method) {
    case 'platt':
      return `platt (a ${rec.a.toFixed(3)}, b ${rec.b.toFixed(3)})`;
    case 'temperature':
      return `temperature (t ${rec.t.toFixed(3)})`;
    case 'isotonic':
      return `isotonic (${rec.x.length} points)`;
    case 'none':
      return rec.fallback ? `none (${rec.requested} fell back: ${rec.fallback})` : 'none';
  }
}
