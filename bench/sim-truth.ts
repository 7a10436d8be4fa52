// Shared by the development studies that read the simulator's hidden truth (bench/subclass-study.ts,
// cotrain-study.ts, refine-study.ts): the command line, each patient's confounder C and severity U from patients.csv,
// the dataset, patterns and plain-model settings the bias-network studies start from, and the statistics those studies
// print. Simulated data only; never used by cdmm itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset } from '../src/data/build.js';
import type { SplitArrays } from '../src/data/types.js';
import { setNumThreads } from '../src/engine/index.js';
import { defaultModelConfig } from '../src/models/index.js';
import { assignPatterns, buildPatternDictionary } from '../src/models/patterns.js';
import { defaultTrainOptions, resolveAuto } from '../src/train/options.js';
import { cutPoints } from '../src/train/sampler.js';

/** The value after `--name` on the command line, or `d`. */
export function arg(name: string, d: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
}

/**
 * Per patient id, the confounder C and the latent severity U of a simulated folder (U from true_risk =
 * σ(α + 1.5·U), α = −2.3 as in src/data/simulate.ts).
 */
export function simTruth(dir: string): { C: Map<string, number>; U: Map<string, number> } {
  const lines = readFileSync(join(dir, 'patients.csv'), 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  const ci = head.indexOf('confounder');
  const ri = head.indexOf('true_risk');
  const C = new Map<string, number>();
  const U = new Map<string, number>();
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    const r = Number(f[ri]);
    C.set(f[0], Number(f[ci]));
    U.set(f[0], (Math.log(r / (1 - r)) + 2.3) / 1.5);
  }
  return { C, U };
}

/** The C–Y gap left in a weighted set: P_w(C=1 | Y=1) − P_w(C=1 | Y=0). */
export function cyGap(y: ArrayLike<number>, c: ArrayLike<number>, w: ArrayLike<number>): number {
  const s = [[0, 0], [0, 0]];
  for (let i = 0; i < y.length; i++) { const k = y[i] >= 0.5 ? 1 : 0; s[k][0] += w[i]; s[k][1] += w[i] * c[i]; }
  return s[1][1] / s[1][0] - s[0][1] / s[0][0];
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i] - ma, z = b[i] - mb; sab += x * z; saa += x * x; sbb += z * z; }
  return sab / Math.sqrt(saa * sbb);
}

/** The indices of the patients with label 0 and with label 1. */
export function byLabel(y: ArrayLike<number>): [number[], number[]] {
  const out: [number[], number[]] = [[], []];
  for (let i = 0; i < y.length; i++) out[y[i] >= 0.5 ? 1 : 0].push(i);
  return out;
}

/** A probability as a logit, clipped at 1e-7. */
export const logit = (p: number) => Math.log(Math.max(1e-7, p) / Math.max(1e-7, 1 - p));

/**
 * What the bias-network studies (cotrain-study.ts, refine-study.ts) start from, on one thread: the simulator's C and U,
 * the dataset, the training split's pattern dictionary, a plain model's configuration (mask features on), the
 * resolved training options and the class weight of the positives.
 */
export async function studySetup(dir: string, backbone: string, seed: number) {
  setNumThreads(1);
  const { C, U } = simTruth(dir);
  const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, seed });
  const train = ds.splits.train;
  const K = ds.modalities.length;
  const dict = buildPatternDictionary(train.mask, K);
  const pat = (s: SplitArrays) => assignPatterns(s.mask, K, dict);
  const cfg = { ...defaultModelConfig, backbone, debias: 'none', maskFeatures: true } as typeof defaultModelConfig;
  const o = { ...defaultTrainOptions, seed };
  const sizes = resolveAuto(o, train.ids.length, backbone, (b) => cutPoints(train.ids.length, b).length - 1);
  let pos = 0;
  for (const y of train.labels) pos += y >= 0.5 ? 1 : 0;
  const posW = (train.labels.length - pos) / pos;
  return { C, U, ds, K, dict, pat, trainPat: pat(train), P: dict.masks.length, cfg, o, sizes, posW };
}
