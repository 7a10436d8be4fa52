// Synthetic prepared datasets with a known signal, for the training tests: a latent severity u drives the label,
// the features and (MNAR) whether the labs modality is observed.
import { mulberry32, normal } from '../src/data/rng.js';
import type { ModalityInfo, PreparedDataset, SplitArrays, SplitName } from '../src/data/types.js';

export interface SynthOptions {
  n?: number;
  seed?: number;
  /** Signal strength of u in the features. */
  signal?: number;
}

export function syntheticDataset(o: SynthOptions = {}): PreparedDataset {
  const n = o.n ?? 2000;
  const rand = mulberry32(o.seed ?? 1);
  const randn = normal(rand);
  const signal = o.signal ?? 1;
  const modalities: ModalityInfo[] = [
    { name: 'demo', type: 'tabular', shape: [4], features: ['age', 'sex', 'bmi', 'site'] },
    { name: 'labs', type: 'tabular', shape: [6], features: ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'] },
    { name: 'codes', type: 'codes', shape: [8], features: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'] },
  ];
  const K = modalities.length;
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const rows: { y: number; mask: number[]; v: number[][] }[] = [];
  for (let i = 0; i < n; i++) {
    const u = randn();
    const y = rand() < sig(-1.6 + 1.8 * u) ? 1 : 0;
    const demo = [signal * 0.5 * u + randn(), rand() < 0.5 ? 1 : 0, randn(), rand() < 0.5 ? 1 : 0];
    const labs = Array.from({ length: 6 }, (_, j) => signal * (j < 3 ? 1 : 0.3) * u + randn());
    const codes = Array.from({ length: 8 }, (_, j) => (rand() < sig(j < 4 ? u - 1 : -1) ? 1 : 0));
    const hasLabs = rand() < sig(0.3 + 1.5 * u) ? 1 : 0;
    const hasCodes = rand() < 0.6 ? 1 : 0;
    rows.push({ y, mask: [1, hasLabs, hasCodes], v: [demo, hasLabs ? labs : labs.map(() => 0), hasCodes ? codes : codes.map(() => 0)] });
  }
  const cut = (a: number, b: number): SplitArrays => {
    const part = rows.slice(a, b);
    const m = part.length;
    const values: Record<string, Float32Array> = {};
    modalities.forEach((mod, k) => {
      const D = mod.shape[0];
      const arr = new Float32Array(m * D);
      part.forEach((r, i) => arr.set(r.v[k], i * D));
      values[mod.name] = arr;
    });
    const mask = new Uint8Array(m * K);
    part.forEach((r, i) => mask.set(r.mask, i * K));
    return {
      ids: part.map((_, i) => `p${a + i}`),
      labels: Float32Array.from(part, (r) => r.y),
      mask,
      values,
    };
  };
  const a = Math.round(0.7 * n);
  const b = Math.round(0.8 * n);
  const splits = { train: cut(0, a), val: cut(a, b), test: cut(b, n) } as Record<SplitName, SplitArrays> as PreparedDataset['splits'];
  return {
    name: 'synthetic',
    modalities,
    splits,
    state: { synthetic: true },
    cohort: { candidates: n, included: n, exclusions: {} },
  };
}
