// Mini-batches from a split's typed arrays: rows are copied into one Float32Array per modality (runs of consecutive
// rows with one copy), then handed to the engine with a single tensor() call each. Alongside the dense values the
// batch carries what lets the model skip work on missing data: the nonzeros of codes/text modalities (sparse
// encoders) and the positions of the observed rows and tokens (encoders and fusion run on those only).
import { tensor, type Tensor } from '../engine/index.js';
import type { ModalityInfo } from '../data/types.js';
import type { Batch, BatchLayout, SparseRows } from './types.js';

/** What makeBatch reads from a split (labels are optional: serving has none). */
export interface BatchSource {
  values: Record<string, Float32Array>;
  mask: Uint8Array;
  labels?: Float32Array;
}

/** Modalities whose encoders read the sparse form. */
export function isSparseModality(m: ModalityInfo): boolean {
  return m.type === 'codes' || m.type === 'text';
}

function perRow(m: ModalityInfo): number {
  return m.shape.reduce((a, b) => a * b, 1);
}

/** Copies rows of an N×width array into a B×width array, one subarray copy per run of consecutive rows. */
function gatherRows(src: Float32Array, width: number, rows: ArrayLike<number>): Float32Array {
  const b = rows.length;
  const out = new Float32Array(b * width);
  let i = 0;
  while (i < b) {
    let j = i + 1;
    while (j < b && rows[j] === rows[j - 1] + 1) j++;
    const r = rows[i];
    out.set(src.subarray(r * width, (r + j - i) * width), i * width);
    i = j;
  }
  return out;
}

/** The nonzeros of the observed rows of a (B, width) array; missing rows get empty bags. */
function sparseRows(x: Float32Array, width: number, mask: Float32Array, K: number, k: number): SparseRows {
  const b = x.length / width;
  let nnz = 0;
  for (let i = 0; i < b; i++) if (mask[i * K + k]) for (let j = i * width, e = j + width; j < e; j++) if (x[j] !== 0) nnz++;
  const idx = new Int32Array(nnz);
  const val = new Float32Array(nnz);
  const off = new Int32Array(b);
  let n = 0;
  for (let i = 0; i < b; i++) {
    off[i] = n;
    if (!mask[i * K + k]) continue;
    const base = i * width;
    for (let j = 0; j < width; j++) {
      const v = x[base + j];
      if (v !== 0) { idx[n] = j; val[n] = v; n++; }
    }
  }
  return { indices: tensor(idx, [nnz], 'int64'), offsets: tensor(off, [b], 'int64'), weights: tensor(val, [nnz]) };
}

function int64(values: number[] | Int32Array, n: number): Tensor {
  const a = new BigInt64Array(n);
  for (let i = 0; i < n; i++) a[i] = BigInt(values[i]);
  return tensor(a, [n]);
}

/** Observed rows per modality and observed tokens, from the (B, K) float mask. */
export function batchLayout(mask: Float32Array, modalities: ModalityInfo[]): BatchLayout {
  const K = modalities.length;
  const b = mask.length / K;
  const present: BatchLayout['present'] = {};
  modalities.forEach((m, k) => {
    const rows: number[] = [];
    const pos = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      if (mask[i * K + k]) { pos[i] = rows.length; rows.push(i); } else pos[i] = -1;
    }
    if (rows.length === b) return; // all observed: the encoder runs on the whole batch
    for (let i = 0; i < b; i++) if (pos[i] < 0) pos[i] = rows.length;
    present[m.name] = { rows: int64(rows, rows.length), pos: int64(pos, b), count: rows.length };
  });
  const index: number[] = [];
  const pos = new Int32Array(b * K);
  for (let f = 0; f < b * K; f++) { if (mask[f]) { pos[f] = index.length; index.push(f); } else pos[f] = -1; }
  for (let f = 0; f < b * K; f++) if (pos[f] < 0) pos[f] = index.length;
  return { present, tokens: { index: int64(index, index.length), pos: int64(pos, b * K), count: index.length } };
}

/**
 * The batch for `rows` of a split. `patternIdx` holds the dictionary index of every row of the split
 * (from assignPatterns on the split's mask), not of the batch.
 */
export function makeBatch(split: BatchSource, rows: Int32Array | number[], modalities: ModalityInfo[], patternIdx: Int32Array): Batch {
  const b = rows.length;
  const K = modalities.length;
  const mask = new Float32Array(b * K);
  const pat = new BigInt64Array(b);
  const rowIds = new BigInt64Array(b);
  const labels = split.labels ? new Float32Array(b) : null;
  for (let i = 0; i < b; i++) {
    const r = rows[i];
    for (let k = 0; k < K; k++) mask[i * K + k] = split.mask[r * K + k];
    pat[i] = BigInt(patternIdx[r]);
    rowIds[i] = BigInt(r);
    if (labels) labels[i] = split.labels![r];
  }
  const values: Batch['values'] = {};
  const sparse: Record<string, SparseRows> = {};
  modalities.forEach((m, k) => {
    const src = split.values[m.name];
    if (!src) throw new Error(`makeBatch: the split has no values for modality '${m.name}'`);
    const width = perRow(m);
    const x = gatherRows(src, width, rows);
    values[m.name] = tensor(x, [b, ...m.shape]);
    if (isSparseModality(m)) sparse[m.name] = sparseRows(x, width, mask, K, k);
  });
  const batch: Batch = {
    values, mask: tensor(mask, [b, K]), patternIdx: tensor(pat, [b]), rows: tensor(rowIds, [b]), sparse,
    layout: batchLayout(mask, modalities),
  };
  if (labels) batch.labels = tensor(labels, [b]);
  return batch;
}
