// The missingness-pattern dictionary: the distinct observed/missing patterns of the training split, with rare ones
// merged into their nearest frequent pattern (Hamming distance) so that every dictionary entry has enough patients
// to learn its embedding and prior.
import type { PatternDictionary } from './types.js';

export interface PatternDictionaryOptions {
  /** Patterns with fewer patients are merged into the nearest kept pattern (default 20). */
  minCount?: number;
  /** At most this many patterns are kept (default 64). */
  maxSize?: number;
}

/** Row i of a row-major N×K mask as a "1011" string. */
export function maskKey(masks: Uint8Array, K: number, i: number): string {
  let s = '';
  for (let k = 0; k < K; k++) s += masks[i * K + k] ? '1' : '0';
  return s;
}

function hamming(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) d++;
  return d;
}

/** Index of the nearest pattern by Hamming distance; ties go to the larger weight (more frequent pattern). */
function nearest(key: string, patterns: string[], weight: number[]): number {
  let best = 0;
  let bestD = Infinity;
  for (let j = 0; j < patterns.length; j++) {
    const d = hamming(key, patterns[j]);
    if (d < bestD || (d === bestD && weight[j] > weight[best])) { best = j; bestD = d; }
  }
  return best;
}

/** Training patients a missingness pattern needs to stay a pattern of its own (rarer ones merge into the nearest). */
export const PATTERN_MIN_COUNT = 20;

export function buildPatternDictionary(masks: Uint8Array, K: number, opts: PatternDictionaryOptions = {}): PatternDictionary {
  const minCount = opts.minCount ?? PATTERN_MIN_COUNT;
  const maxSize = opts.maxSize ?? 64;
  if (K <= 0) throw new Error('buildPatternDictionary: K must be positive');
  if (masks.length % K !== 0) throw new Error(`buildPatternDictionary: mask length ${masks.length} is not a multiple of K=${K}`);
  const n = masks.length / K;
  if (n === 0) throw new Error('buildPatternDictionary: the training split has no patients');
  if (maxSize < 1) throw new Error('buildPatternDictionary: maxSize must be at least 1');

  const freq = new Map<string, number>();
  for (let i = 0; i < n; i++) { const key = maskKey(masks, K, i); freq.set(key, (freq.get(key) ?? 0) + 1); }
  // Most frequent first; the key breaks ties so the dictionary does not depend on patient order.
  const byFreq = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  // Keep the frequent patterns (at least the most frequent one, so tiny splits still get a dictionary).
  const kept = byFreq.filter(([, c], i) => i === 0 || c >= minCount).slice(0, maxSize);
  const keys = kept.map(([k]) => k);
  const counts = kept.map(([, c]) => c);
  const own = kept.map(([, c]) => c); // tie-breaking uses the pattern's own frequency, not what was merged into it
  for (const [key, c] of byFreq.slice(kept.length)) counts[nearest(key, keys, own)] += c;
  return { masks: keys, prior: counts.map((c) => c / n), counts };
}

/** Dictionary index of every row: the exact pattern when present, else the nearest (ties → more frequent). */
export function assignPatterns(masks: Uint8Array, K: number, dict: PatternDictionary): Int32Array {
  const n = Math.floor(masks.length / K);
  const out = new Int32Array(n);
  const cache = new Map<string, number>();
  dict.masks.forEach((m, j) => cache.set(m, j));
  for (let i = 0; i < n; i++) {
    const key = maskKey(masks, K, i);
    let j = cache.get(key);
    if (j === undefined) { j = nearest(key, dict.masks, dict.prior); cache.set(key, j); }
    out[i] = j;
  }
  return out;
}

/**
 * Modality dropout (training only): for each of the batch `rows` of a split's N×K mask, hides every observed
 * modality with probability p, but always keeps at least one (when all would go, one observed modality chosen
 * uniformly stays). Returns the batch-level mask (B×K) and its dictionary patterns, for makeBatch's override.
 */
export function modalityDropout(masks: Uint8Array, K: number, rows: ArrayLike<number>, p: number, dict: PatternDictionary, rand: () => number): { mask: Uint8Array; patternIdx: Int32Array } {
  if (!(p >= 0 && p < 1)) throw new Error(`modalityDropout: p must be in [0, 1), got ${p}`);
  const b = rows.length;
  const mask = new Uint8Array(b * K);
  for (let i = 0; i < b; i++) {
    const r = rows[i];
    const observed: number[] = [];
    for (let k = 0; k < K; k++) if (masks[r * K + k]) observed.push(k);
    let kept = 0;
    for (const k of observed) if (rand() >= p) { mask[i * K + k] = 1; kept++; }
    if (kept === 0 && observed.length) mask[i * K + observed[Math.min(observed.length - 1, Math.floor(rand() * observed.length))]] = 1;
  }
  return { mask, patternIdx: assignPatterns(mask, K, dict) };
}
