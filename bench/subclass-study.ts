// npx tsx bench/subclass-study.ts SIMDIR [--backbones early] [--seeds 1] — development study of how well the dual
// branch's groups recover the simulator's confounder C: trains only the bias network (as `--debias full` does) and,
// for each way of grouping the training patients, prints the C–Y gap left after balancing the groups (× pattern)
// against the label: P_w(C=1 | Y=1) − P_w(C=1 | Y=0). That gap ranked retrained models' shift AUROC correctly in
// every case tried (docs/RESULTS.md §6). Simulated data only (it reads patients.csv's `confounder`).
import { join } from 'node:path';
import { prepareDataset } from '../src/data/build.js';
import { setNumThreads, manualSeed } from '../src/engine/index.js';
import { defaultModelConfig } from '../src/models/index.js';
import { assignPatterns, buildPatternDictionary } from '../src/models/patterns.js';
import { groupLabelWeights, quantileEdges, scoreBins } from '../src/models/debias/weights.js';
import { mulberry32 } from '../src/data/rng.js';
import { fitBiasNetwork } from '../src/train/debias/bias-network.js';
import { defaultTrainOptions, resolveAuto } from '../src/train/options.js';
import { cutPoints } from '../src/train/sampler.js';
import { arg, cyGap, simTruth } from './sim-truth.js';

const dir = process.argv[2];
const backbones = arg('backbones', 'early').split(',');
const seeds = Number(arg('seeds', '1'));
setNumThreads(1);
const { C } = simTruth(dir);
function agree(g: Int32Array, c: number[]): number {
  let a = 0;
  for (let i = 0; i < g.length; i++) a += (g[i] % 2) === c[i] ? 1 : 0;
  return Math.max(a, g.length - a) / g.length;
}

for (let seed = 0; seed < seeds; seed++) {
  const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, seed });
  const { train, val } = ds.splits;
  const K = ds.modalities.length;
  const dict = buildPatternDictionary(train.mask, K);
  const trainPat = assignPatterns(train.mask, K, dict);
  const valPat = assignPatterns(val.mask, K, dict);
  const P = dict.masks.length;
  const c = train.ids.map((id) => C.get(id)!);
  for (const backbone of backbones) {
    const cfg = { ...defaultModelConfig, backbone, debias: 'full' } as typeof defaultModelConfig;
    const o = { ...defaultTrainOptions, seed };
    const sizes = resolveAuto(o, train.ids.length, backbone, (b) => cutPoints(train.ids.length, b).length - 1);
    const opts = { ...o, batchSize: sizes.batchSize, lr: sizes.lr, patience: sizes.patience, lrAsked: o.lr };
    manualSeed(seed);
    const s = fitBiasNetwork({ ds, cfg, opts, dict, trainPat, valPat, before: [], quiet: true }, { features: true });
    const f = s.features!;
    const withPat = (g: Int32Array, G: number) => ({ g: Int32Array.from(g, (v, i) => v * P + trainPat[i]), G: G * P });
    const res: Record<string, number> = {};
    const none = new Float32Array(train.labels.length).fill(1);
    res.raw = cyGap(train.labels, c, none);
    const pat = withPat(new Int32Array(train.labels.length), 1);
    res.pattern = cyGap(train.labels, c, groupLabelWeights(pat.g, train.labels, pat.G, 1, 20));
    for (const bins of [5, 10]) {
      const b = withPat(scoreBins(s.train, quantileEdges(s.train, bins)), bins);
      res[`bins${bins}`] = cyGap(train.labels, c, groupLabelWeights(b.g, train.labels, b.G, 1, 20));
    }
    const cl = withinLabelClusters(f.train, f.dim, train.labels, trainPat, P, { seed });
    res.cluster_agree = agree(cl.groups, c);
    const g2 = withPat(cl.groups, cl.k);
    res.cluster = cyGap(train.labels, c, groupLabelWeights(g2.g, train.labels, g2.G, 1, 20));
    const b5 = scoreBins(s.train, quantileEdges(s.train, 5));
    const g3 = withPat(Int32Array.from(b5, (v, i) => v * cl.k + cl.groups[i]), 5 * cl.k);
    res.cluster_x_bins5 = cyGap(train.labels, c, groupLabelWeights(g3.g, train.labels, g3.G, 1, 20));
    const r = (x: number) => Math.round(x * 1e4) / 1e4;
    console.log(JSON.stringify({ dir, seed, backbone, k: cl.k, ...Object.fromEntries(Object.entries(res).map(([k, v]) => [k, r(v)])) }));
  }
}
process.exit(0);

// The study's grouping: hidden subclasses in the bias network's representation (after GEORGE, Sohoni et al. 2020).
// Each (pattern × label) cell's mean is taken out of the representation (the pattern otherwise dominates what
// varies), the residuals are standardised, split in two within each label by k-means started from that label's
// first principal axis, and the two labels' splits are matched so that they point the same way.
interface SubclassModel {
  /** Mean representation per (stratum × label) cell (index stratum·2 + label) and per-dimension scale of the residuals. */
  means: Float64Array[];
  scale: Float64Array;
  /** Cluster centres in the scaled residual space (k × dim). */
  centres: Float64Array[];
  dim: number;
}

interface Subclasses {
  groups: Int32Array;
  k: number;
  model: SubclassModel;
}

/** Fits the two-subclass model on (z, y) and returns each patient's subclass. */
function withinLabelClusters(
  z: Float32Array, dim: number, labels: ArrayLike<number>, strata: ArrayLike<number>, strataCount: number,
  o: { seed?: number; iterations?: number } = {},
): Subclasses {
  const n = labels.length;
  const cells = 2 * strataCount;
  const cellOf = (i: number) => strata[i] * 2 + (labels[i] >= 0.5 ? 1 : 0);
  const means = Array.from({ length: cells }, () => new Float64Array(dim));
  const counts = new Array(cells).fill(0);
  for (let i = 0; i < n; i++) {
    const c = cellOf(i);
    counts[c]++;
    for (let d = 0; d < dim; d++) means[c][d] += z[i * dim + d];
  }
  for (let c = 0; c < cells; c++) for (let d = 0; d < dim; d++) means[c][d] /= Math.max(1, counts[c]);
  const scale = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const m = means[cellOf(i)];
    for (let d = 0; d < dim; d++) { const r = z[i * dim + d] - m[d]; scale[d] += r * r; }
  }
  // Dimensions that do not vary are left out (scale 0), the others standardised.
  for (let d = 0; d < dim; d++) { const sd = Math.sqrt(scale[d] / Math.max(1, n)); scale[d] = sd > 1e-8 ? 1 / sd : 0; }
  const model: SubclassModel = { means, scale, centres: [], dim };
  const R = residuals(model, z, labels, strata);
  // Two subclasses within each label (k-means from the label's first principal axis), then matched across labels so
  // that the two labels' splits point the same way (their centre differences have a positive dot product).
  const groups = new Int32Array(n);
  const centresBy: Float64Array[][] = [];
  for (const y of [0, 1]) {
    const idx = Array.from({ length: n }, (_, i) => i).filter((i) => (labels[i] >= 0.5 ? 1 : 0) === y);
    const m = idx.length;
    const Ry = new Float64Array(m * dim);
    idx.forEach((i, r) => Ry.set(R.subarray(i * dim, (i + 1) * dim), r * dim));
    const axis = principalAxis(Ry, m, dim, (o.seed ?? 0) + y);
    let g: Int32Array = new Int32Array(m);
    for (let r = 0; r < m; r++) { let s = 0; for (let d = 0; d < dim; d++) s += Ry[r * dim + d] * axis[d]; g[r] = s > 0 ? 1 : 0; }
    let c = centroids(Ry, m, dim, g, 2);
    for (let it = 0; it < (o.iterations ?? 30); it++) {
      const next = nearest(Ry, m, dim, c);
      let changed = 0;
      for (let r = 0; r < m; r++) if (next[r] !== g[r]) changed++;
      g = next;
      c = centroids(Ry, m, dim, g, 2);
      if (changed === 0) break;
    }
    centresBy.push(c);
    idx.forEach((i, r) => { groups[i] = g[r]; });
  }
  let dot = 0;
  for (let d = 0; d < dim; d++) dot += (centresBy[0][1][d] - centresBy[0][0][d]) * (centresBy[1][1][d] - centresBy[1][0][d]);
  if (dot < 0) {
    for (let i = 0; i < n; i++) if (labels[i] >= 0.5) groups[i] = 1 - groups[i];
    centresBy[1].reverse();
  }
  const centres = centresBy.flat();
  model.centres = centres;
  return { groups, k: 2, model };
}

function residuals(m: SubclassModel, z: Float32Array, labels: ArrayLike<number>, strata: ArrayLike<number>): Float64Array {
  const n = labels.length, dim = m.dim;
  const R = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) {
    const mu = m.means[strata[i] * 2 + (labels[i] >= 0.5 ? 1 : 0)];
    for (let d = 0; d < dim; d++) R[i * dim + d] = (z[i * dim + d] - mu[d]) * m.scale[d];
  }
  return R;
}

/** The first principal axis of the rows of R (power iteration on RᵀR). */
function principalAxis(R: Float64Array, n: number, dim: number, seed: number): Float64Array {
  const rand = mulberry32(seed + 104729);
  let v = Float64Array.from({ length: dim }, () => rand() - 0.5);
  for (let it = 0; it < 100; it++) {
    const w = new Float64Array(dim);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += R[i * dim + d] * v[d];
      for (let d = 0; d < dim; d++) w[d] += s * R[i * dim + d];
    }
    let norm = 0;
    for (const x of w) norm += x * x;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) return v;
    let delta = 0;
    for (let d = 0; d < dim; d++) { const x = w[d] / norm; delta += Math.abs(x - v[d]); w[d] = x; }
    v = w;
    if (delta < 1e-9) break;
  }
  return v;
}

function centroids(R: Float64Array, n: number, dim: number, g: Int32Array, k: number): Float64Array[] {
  const c = Array.from({ length: k }, () => new Float64Array(dim));
  const cnt = new Array(k).fill(0);
  for (let i = 0; i < n; i++) { cnt[g[i]]++; for (let d = 0; d < dim; d++) c[g[i]][d] += R[i * dim + d]; }
  for (let j = 0; j < k; j++) for (let d = 0; d < dim; d++) c[j][d] /= Math.max(1, cnt[j]);
  return c;
}

function nearest(R: Float64Array, n: number, dim: number, centres: Float64Array[]): Int32Array {
  const g = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bestD = Infinity;
    centres.forEach((c, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) { const x = R[i * dim + d] - c[d]; s += x * x; }
      if (s < bestD) { bestD = s; best = j; }
    });
    g[i] = best;
  }
  return g;
}
