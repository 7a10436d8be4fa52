// Patient-level splits: stratified random, from a column, or a `shift` split where the training split is
// subsampled so that one modality's availability is strongly tied to the label.
import { CdmmError } from '../util/errors.js';
import { mulberry32, shuffle } from './rng.js';
import type { SplitSpec } from './spec.js';
import type { SplitName } from './types.js';

export type SplitIndex = Partial<Record<SplitName, Int32Array>> & { train: Int32Array; val: Int32Array; test: Int32Array };

/** Stratified by label: each class is shuffled with the seed and cut by the fractions. */
export function stratifiedSplit(labels: Float32Array, eligible: Uint8Array, fr: { train: number; val: number; test: number }, seed: number): SplitIndex {
  const rand = mulberry32(seed);
  const parts: Record<'train' | 'val' | 'test', number[]> = { train: [], val: [], test: [] };
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (eligible[i] && labels[i] === cls) idx.push(i);
    shuffle(idx, rand);
    const nTrain = Math.round(fr.train * idx.length);
    const nVal = Math.round(fr.val * idx.length);
    parts.train.push(...idx.slice(0, nTrain));
    parts.val.push(...idx.slice(nTrain, nTrain + nVal));
    parts.test.push(...idx.slice(nTrain + nVal));
  }
  const sorted = (a: number[]) => Int32Array.from(a.sort((x, y) => x - y));
  return { train: sorted(parts.train), val: sorted(parts.val), test: sorted(parts.test) };
}

const DEFAULT_VALUES: Record<SplitName, string[]> = {
  train: ['train', 'training'],
  val: ['val', 'valid', 'validation', 'tune'],
  test: ['test'],
  shift: ['shift', 'external'],
};

/** Splits from a column's values; patients whose value maps to no split are counted and left out. */
export function columnSplit(
  values: (string | null)[],
  eligible: Uint8Array,
  mapping: Partial<Record<SplitName, (string | number)[]>> | undefined,
  where: string,
): { split: SplitIndex; unassigned: number } {
  const lookup = new Map<string, SplitName>();
  for (const name of Object.keys(DEFAULT_VALUES) as SplitName[])
    for (const v of mapping?.[name]?.map(String) ?? DEFAULT_VALUES[name]) {
      const prev = lookup.get(v.toLowerCase());
      if (prev && prev !== name && mapping?.[prev])
        throw new CdmmError(`${where}: value ${JSON.stringify(v)} is listed for both '${prev}' and '${name}'; each value must name one split (to split one site's patients into train and val at random, write the split names into the column, or use method: random)`);
      lookup.set(v.toLowerCase(), name);
    }
  const parts: Record<SplitName, number[]> = { train: [], val: [], test: [], shift: [] };
  let unassigned = 0;
  values.forEach((v, i) => {
    if (!eligible[i]) return;
    const s = v === null ? undefined : lookup.get(String(v).trim().toLowerCase());
    if (s) parts[s].push(i);
    else unassigned++;
  });
  for (const s of ['train', 'val', 'test'] as const)
    if (parts[s].length === 0) throw new CdmmError(`${where}: no patient has split value for '${s}' (accepted: ${(mapping?.[s] ?? DEFAULT_VALUES[s]).join(', ')})`);
  const out: SplitIndex = { train: Int32Array.from(parts.train), val: Int32Array.from(parts.val), test: Int32Array.from(parts.test) };
  if (parts.shift.length) out.shift = Int32Array.from(parts.shift);
  return { split: out, unassigned };
}

/**
 * Shift split: drops each training patient whose availability of the modality disagrees with its label
 * (present & y=0, or absent & y=1) with probability `strength`, so that in training "has the modality"
 * predicts the outcome far more than it does in validation and test, which keep the natural distribution.
 */
export function shiftTrain(split: SplitIndex, labels: Float32Array, present: Uint8Array, strength: number, seed: number): { split: SplitIndex; dropped: number } {
  const rand = mulberry32(seed ^ 0x5bd1e995);
  const keep: number[] = [];
  for (const i of split.train) {
    const disagrees = (present[i] === 1) !== (labels[i] === 1);
    if (disagrees && rand() < strength) continue;
    keep.push(i);
  }
  return { split: { ...split, train: Int32Array.from(keep) }, dropped: split.train.length - keep.length };
}
