// Tiny synthetic modalities and splits shared by the model tests.
import type { ModalityInfo } from '../src/data/types.js';
import type { ModelConfig } from '../src/models/types.js';

export const tinyModalities: ModalityInfo[] = [
  { name: 'static', type: 'tabular', shape: [6], features: [] },
  { name: 'codes', type: 'codes', shape: [50], features: [] },
  { name: 'series', type: 'timeseries', shape: [5, 9], features: [], variables: 3 },
  { name: 'text', type: 'text', shape: [40], features: [] },
  { name: 'image', type: 'embedding', shape: [8], features: [] },
];

export const tinyConfig: Partial<ModelConfig> = {
  dim: 16, branchDim: 8, headHidden: 8, fusionHeads: 2, fusionFf: 16, seriesHidden: 8, dropout: 0, warmupEpochs: 0,
  // The head's own dual branch (v1, joint): what these head-level tests exercise; the separate one is src/train/debias.
  dualBranch: 'joint',
};

/** Deterministic pseudo-random numbers in [0, 1): the data layer's mulberry32. */
import { mulberry32 as rng } from '../src/data/rng.js';
export { rng };

export interface TinySplit {
  values: Record<string, Float32Array>;
  mask: Uint8Array;
  labels: Float32Array;
}

/**
 * n patients with random masks (each modality observed with probability pObs, at least one), values zero where
 * missing as the data layer guarantees, sparse codes/text, and labels from a logistic rule on static[0] (plus noise).
 */
export function tinySplit(n: number, seed = 1, modalities = tinyModalities, pObs = 0.6, slope = 4): TinySplit {
  const r = rng(seed);
  const K = modalities.length;
  const mask = new Uint8Array(n * K);
  for (let i = 0; i < n; i++) {
    let any = false;
    for (let k = 0; k < K; k++) { const o = r() < pObs; mask[i * K + k] = o ? 1 : 0; any ||= o; }
    if (!any) mask[i * K + Math.floor(r() * K)] = 1;
  }
  const values: Record<string, Float32Array> = {};
  modalities.forEach((m, k) => {
    const w = m.shape.reduce((a, b) => a * b, 1);
    const sparse = m.type === 'codes' || m.type === 'text';
    const a = new Float32Array(n * w);
    for (let i = 0; i < n; i++) {
      if (!mask[i * K + k]) continue;
      for (let j = 0; j < w; j++) a[i * w + j] = sparse ? (r() < 0.2 ? 1 + r() : 0) : r() * 2 - 1;
    }
    values[m.name] = a;
  });
  const labels = new Float32Array(n);
  const w0 = modalities[0].shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const x = mask[i * K] ? values[modalities[0].name][i * w0] : 0;
    labels[i] = r() < 1 / (1 + Math.exp(-slope * x)) ? 1 : 0;
  }
  return { values, mask, labels };
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
