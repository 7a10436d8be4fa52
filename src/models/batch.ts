// Mini-batches from a split's typed arrays: rows are copied into one Float32Array per modality (runs of consecutive
// rows with one copy), then handed to the engine with a single tensor() call each.
import { tensor } from '../engine/index.js';
import type { ModalityInfo } from '../data/types.js';
import type { Batch } from './types.js';

/** What makeBatch reads from a split (labels are optional: serving has none). */
export interface BatchSource {
  values: Record<string, Float32Array>;
  mask: Uint8Array;
  labels?: Float32Array;
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
 * The batch for `rows` of a split. `patternIdx` holds the dictionary index of every row of the split
 * (from assignPatterns on the split's mask), not of the batch.
 */
export function makeBatch(split: BatchSource, rows: Int32Array | number[], modalities: ModalityInfo[], patternIdx: Int32Array): Batch {
  const b = rows.length;
  const K = modalities.length;
  const values: Batch['values'] = {};
  for (const m of modalities) {
    const src = split.values[m.name];
    if (!src) throw new Error(`makeBatch: the split has no values for modality '${m.name}'`);
    values[m.name] = tensor(gatherRows(src, perRow(m), rows), [b, ...m.shape]);
  }
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
  const batch: Batch = { values, mask: tensor(mask, [b, K]), patternIdx: tensor(pat, [b]), rows: tensor(rowIds, [b]) };
  if (labels) batch.labels = tensor(labels, [b]);
  return batch;
}
