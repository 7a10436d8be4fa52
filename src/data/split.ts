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

/**
 * Units that must stay on one side of every split: rows sharing a non-null key in any of `keys` (the patient,
 * and for group splits the group) are joined, transitively (a patient seen at two hospitals joins them).
 * Returns the unit of each eligible row, numbered in order of first row; -1 for rows not eligible.
 */
export function connectedUnits(eligible: Uint8Array, keys: readonly (readonly (string | null)[])[]): Int32Array {
  const n = eligible.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; }
    return i;
  };
  for (const list of keys) {
    const first = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const k = list[i];
      if (!eligible[i] || k === null || k === undefined) continue;
      const j = first.get(k);
      if (j === undefined) first.set(k, i);
      else {
        const a = find(i), b = find(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const unit = new Int32Array(n).fill(-1);
  const number = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (!eligible[i]) continue;
    const r = find(i);
    let u = number.get(r);
    if (u === undefined) number.set(r, (u = number.size));
    unit[i] = u;
  }
  return unit;
}

/** Rows of each unit, in row order. */
function rowsOf(unit: Int32Array): number[][] {
  const out: number[][] = [];
  unit.forEach((u, i) => { if (u >= 0) (out[u] ??= []).push(i); });
  return out;
}

const sortedIdx = (a: number[]) => Int32Array.from(a.sort((x, y) => x - y));

/**
 * The stratified random split over units (patients) instead of rows: a unit is positive when any of its rows
 * is; each class of units is shuffled with the seed and cut where the running count of rows reaches the
 * fractions, so that a patient with many stays weighs as many rows. With one row per unit this is exactly
 * stratifiedSplit.
 */
export function stratifiedUnitSplit(labels: Float32Array, unit: Int32Array, fr: { train: number; val: number; test: number }, seed: number): SplitIndex {
  const rows = rowsOf(unit);
  const rand = mulberry32(seed);
  const parts: Record<'train' | 'val' | 'test', number[]> = { train: [], val: [], test: [] };
  for (const cls of [0, 1]) {
    const us = rows.map((_, u) => u).filter((u) => (rows[u].some((i) => labels[i] === 1) ? 1 : 0) === cls);
    shuffle(us, rand);
    const total = us.reduce((a, u) => a + rows[u].length, 0);
    const nTrain = Math.round(fr.train * total);
    const nVal = Math.round(fr.val * total);
    let cum = 0;
    for (const u of us) {
      parts[cum < nTrain ? 'train' : cum < nTrain + nVal ? 'val' : 'test'].push(...rows[u]);
      cum += rows[u].length;
    }
  }
  return { train: sortedIdx(parts.train), val: sortedIdx(parts.val), test: sortedIdx(parts.test) };
}

/**
 * Whole units (groups such as hospitals, joined through shared patients) to train, val and test: units are
 * shuffled with the seed and each goes to the split furthest below its target number of rows, relative to that
 * target (so the first three units go one to each split, and the shares then approach the fractions).
 */
export function groupSplit(unit: Int32Array, fr: { train: number; val: number; test: number }, seed: number, where: string): SplitIndex {
  const rows = rowsOf(unit);
  const order = shuffle(rows.map((_, u) => u), mulberry32(seed ^ 0x2c1b3c6d));
  const total = rows.reduce((a, r) => a + r.length, 0);
  const names = ['train', 'val', 'test'] as const;
  const parts: Record<(typeof names)[number], number[]> = { train: [], val: [], test: [] };
  for (const u of order) {
    let best: (typeof names)[number] = 'train';
    let gap = -Infinity;
    for (const s of names) {
      const g = (fr[s] * total - parts[s].length) / (fr[s] * total);
      if (g > gap) { gap = g; best = s; }
    }
    parts[best].push(...rows[u]);
  }
  for (const s of names)
    if (parts[s].length === 0) throw new CdmmError(`${where}: only ${rows.length} groups (after joining groups that share a patient): too few to give '${s}' a whole group (use more groups or method: random)`);
  return { train: sortedIdx(parts.train), val: sortedIdx(parts.val), test: sortedIdx(parts.test) };
}

/**
 * The shift environment chosen by value: eligible rows with `inShift` form it. Other rows of the same patients
 * are left out (counted), so that no patient is on both sides; returns the remaining rows' eligibility.
 */
export function shiftByValue(eligible: Uint8Array, inShift: Uint8Array, patients: readonly (string | null)[] | undefined): { shift: Int32Array; rest: Uint8Array; dropped: number } {
  const shift: number[] = [];
  const rest = Uint8Array.from(eligible);
  const shiftPatients = new Set<string>();
  for (let i = 0; i < eligible.length; i++) {
    if (!eligible[i] || !inShift[i]) continue;
    shift.push(i);
    rest[i] = 0;
    const p = patients?.[i];
    if (p !== null && p !== undefined) shiftPatients.add(p);
  }
  let dropped = 0;
  if (patients)
    for (let i = 0; i < rest.length; i++) {
      const p = patients[i];
      if (rest[i] && p !== null && shiftPatients.has(p)) { rest[i] = 0; dropped++; }
    }
  return { shift: Int32Array.from(shift), rest, dropped };
}

/** A column split must keep each patient's rows in one split: an error naming the first patient split across two. */
export function requirePatientDisjoint(split: SplitIndex, patients: readonly (string | null)[], ids: readonly string[], where: string): void {
  const seen = new Map<string, { split: string; row: number }>();
  for (const [name, idx] of Object.entries(split) as [string, Int32Array][]) {
    for (const i of idx) {
      const p = patients[i];
      if (p === null || p === undefined) continue;
      const prev = seen.get(p);
      if (prev && prev.split !== name)
        throw new CdmmError(`${where}: patient ${JSON.stringify(p)} has rows in '${prev.split}' (id ${ids[prev.row]}) and in '${name}' (id ${ids[i]}); a patient's rows must all be in one split`);
      if (!prev) seen.set(p, { split: name, row: i });
    }
  }
}
