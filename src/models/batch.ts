// Mini-batches from a split's typed arrays: rows are copied into one Float32Array per modality (runs of consecutive
// rows with one copy), then handed to the engine with a single tensor() call each. Alongside the dense values the
// batch carries what lets the model skip work on missing data: the nonzeros of codes/text modalities (sparse
// encoders; their dense tensors are built lazily, on first access) and the positions of the observed rows and
// tokens (encoders and fusion run on those only).
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

/**
 * The nonzeros of the batch's observed rows of an N×width source array, as bags; missing rows get empty bags.
 * One pass; when the width is even and the array 8-byte aligned, zero pairs of floats are skipped 8 bytes at a time
 * (two float32 zeros, +0 or −0, read as a float64 ±0; any nonzero float32 makes the pair nonzero).
 */
function sparseRows(src: Float32Array, width: number, rows: ArrayLike<number>, mask: Float32Array, K: number, k: number): SparseRows {
  const b = rows.length;
  let cap = Math.max(64, b * 16);
  let idx = new Int32Array(cap);
  let val = new Float32Array(cap);
  const off = new Int32Array(b);
  const pairs = width % 2 === 0 && src.byteOffset % 8 === 0 ? new Float64Array(src.buffer, src.byteOffset, src.length / 2) : null;
  let n = 0;
  const push = (j: number, v: number) => {
    if (n === cap) {
      cap *= 2;
      const i2 = new Int32Array(cap); i2.set(idx); idx = i2;
      const v2 = new Float32Array(cap); v2.set(val); val = v2;
    }
    idx[n] = j; val[n] = v; n++;
  };
  for (let i = 0; i < b; i++) {
    off[i] = n;
    if (!mask[i * K + k]) continue;
    const base = rows[i] * width;
    if (pairs) {
      const pb = base / 2;
      for (let q = 0; q < width / 2; q++) {
        if (pairs[pb + q] === 0) continue;
        const j = 2 * q;
        if (src[base + j] !== 0) push(j, src[base + j]);
        if (src[base + j + 1] !== 0) push(j + 1, src[base + j + 1]);
      }
    } else {
      for (let j = 0; j < width; j++) if (src[base + j] !== 0) push(j, src[base + j]);
    }
  }
  return { indices: tensor(idx.subarray(0, n), [n], 'int64'), offsets: tensor(off, [b], 'int64'), weights: tensor(val.subarray(0, n), [n]) };
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
 * A batch-level mask that hides some observed modalities (modality dropout in training): `mask` (B×K, row-major)
 * must be a subset of the split's mask for the batch rows with ≥ 1 modality per row, and `patternIdx` (B) the
 * dictionary index of each of its rows. Hidden modalities get zero values, as missing ones have.
 */
export interface MaskOverride {
  mask: Uint8Array;
  patternIdx: Int32Array;
}

/** Zeroes the rows of a gathered (B × width) array whose modality k the override hides. */
function hideRows(out: Float32Array, width: number, split: BatchSource, rows: ArrayLike<number>, mask: Float32Array, K: number, k: number): Float32Array {
  for (let i = 0; i < rows.length; i++) if (split.mask[rows[i] * K + k] && !mask[i * K + k]) out.fill(0, i * width, (i + 1) * width);
  return out;
}

/**
 * The batch for `rows` of a split. `patternIdx` holds the dictionary index of every row of the split
 * (from assignPatterns on the split's mask), not of the batch. `override` hides observed modalities (training only).
 */
export function makeBatch(split: BatchSource, rows: Int32Array | number[], modalities: ModalityInfo[], patternIdx: Int32Array, override?: MaskOverride): Batch {
  const b = rows.length;
  const K = modalities.length;
  const mask = new Float32Array(b * K);
  const pat = new BigInt64Array(b);
  const rowIds = new BigInt64Array(b);
  const labels = split.labels ? new Float32Array(b) : null;
  if (override && (override.mask.length !== b * K || override.patternIdx.length !== b))
    throw new Error(`makeBatch: the mask override must be ${b}×${K} with ${b} pattern indices`);
  for (let i = 0; i < b; i++) {
    const r = rows[i];
    let seen = 0;
    for (let k = 0; k < K; k++) {
      const own = split.mask[r * K + k];
      const m = override ? override.mask[i * K + k] : own;
      if (m && !own) throw new Error(`makeBatch: the mask override shows modality ${k} that row ${r} does not have`);
      mask[i * K + k] = m;
      seen += m;
    }
    if (override && seen === 0) throw new Error(`makeBatch: the mask override hides every modality of row ${r}`);
    pat[i] = BigInt(override ? override.patternIdx[i] : patternIdx[r]);
    rowIds[i] = BigInt(r);
    if (labels) labels[i] = split.labels![r];
  }
  const values: Batch['values'] = {};
  const sparse: Record<string, SparseRows> = {};
  const ownRows = Int32Array.from(rows); // the lazy copies below must not see the caller reuse its row buffer
  modalities.forEach((m, k) => {
    const src = split.values[m.name];
    if (!src) throw new Error(`makeBatch: the split has no values for modality '${m.name}'`);
    const width = perRow(m);
    const shape = [b, ...m.shape];
    const gather = () => {
      const out = gatherRows(src, width, ownRows);
      return override ? hideRows(out, width, split, ownRows, mask, K, k) : out;
    };
    if (!isSparseModality(m)) { values[m.name] = tensor(gather(), shape); return; }
    sparse[m.name] = sparseRows(src, width, ownRows, mask, K, k);
    // The model reads the sparse form; the dense (B, D) tensor is built only if someone asks for it.
    let dense: Tensor | null = null;
    Object.defineProperty(values, m.name, {
      enumerable: true,
      configurable: true,
      get: () => {
        if (!dense || dense.disposed) dense = tensor(gather(), shape);
        return dense;
      },
    });
  });
  const batch: Batch = {
    values, mask: tensor(mask, [b, K]), patternIdx: tensor(pat, [b]), rows: tensor(rowIds, [b]), sparse,
    layout: batchLayout(mask, modalities),
  };
  if (labels) batch.labels = tensor(labels, [b]);
  return batch;
}
