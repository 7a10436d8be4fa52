import { describe, expect, it } from 'vitest';
import { assignPatterns, buildPatternDictionary } from '../src/models/patterns.js';

/** A row-major mask from pattern strings repeated counts[i] times. */
function masksOf(spec: [string, number][]): Uint8Array {
  const rows: number[] = [];
  for (const [p, c] of spec) for (let i = 0; i < c; i++) rows.push(...[...p].map(Number));
  return Uint8Array.from(rows);
}

describe('buildPatternDictionary', () => {
  it('keeps frequent patterns with their frequencies as the prior', () => {
    const d = buildPatternDictionary(masksOf([['110', 30], ['111', 50], ['100', 20]]), 3);
    expect(d.masks).toEqual(['111', '110', '100']);
    expect(d.prior).toEqual([0.5, 0.3, 0.2]);
    expect(d.counts).toEqual([50, 30, 20]);
  });

  it('merges rare patterns into the nearest frequent pattern by Hamming distance', () => {
    // 0111 is 1 away from 0011 and 2 from 1100: it goes to 0011. 1101 is 1 from 1100 (and 3 from 0011).
    const d = buildPatternDictionary(masksOf([['1100', 40], ['0011', 25], ['0111', 5], ['1101', 3]]), 4, { minCount: 20 });
    expect(d.masks).toEqual(['1100', '0011']);
    expect(d.counts).toEqual([43, 30]);
    expect(d.prior[0] + d.prior[1]).toBeCloseTo(1, 12);
  });

  it('breaks Hamming ties towards the more frequent pattern', () => {
    // 1010 is 1 away from both 1000 and 1110; 1110 is the more frequent.
    const d = buildPatternDictionary(masksOf([['1000', 21], ['1110', 30], ['1010', 2]]), 4);
    expect(d.masks).toEqual(['1110', '1000']);
    expect(d.counts).toEqual([32, 21]);
  });

  it('caps the dictionary size and merges the overflow', () => {
    const spec: [string, number][] = [['1111', 60], ['1110', 50], ['1100', 40], ['1000', 30]];
    const d = buildPatternDictionary(masksOf(spec), 4, { maxSize: 2 });
    expect(d.masks).toEqual(['1111', '1110']);
    expect(d.counts).toEqual([60, 120]); // 1100 and 1000 are nearer to 1110
    expect(d.prior.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('keeps the most frequent pattern when none reaches the threshold', () => {
    const d = buildPatternDictionary(masksOf([['10', 3], ['01', 2]]), 2);
    expect(d.masks).toEqual(['10']);
    expect(d.prior).toEqual([1]);
  });

  it('rejects an empty split and a mask of the wrong length', () => {
    expect(() => buildPatternDictionary(new Uint8Array(0), 3)).toThrow(/no patients/);
    expect(() => buildPatternDictionary(new Uint8Array(5), 3)).toThrow(/multiple/);
  });
});

describe('assignPatterns', () => {
  it('maps known patterns exactly and unknown ones to the nearest, ties to the more frequent', () => {
    const dict = { masks: ['1100', '0011', '1111'], prior: [0.5, 0.3, 0.2] };
    const idx = assignPatterns(masksOf([['0011', 1], ['1111', 1], ['1101', 1], ['1001', 1], ['0001', 1]]), 4, dict);
    // 1101: 1 from 1100 and 1 from 1111 → 1100 (more frequent). 1001: 2 from each of 1100, 0011; 2 from 1111 → 1100.
    // 0001: 1 from 0011 → 0011.
    expect(Array.from(idx)).toEqual([1, 2, 0, 0, 1]);
  });
});
