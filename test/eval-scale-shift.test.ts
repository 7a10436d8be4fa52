// Another hospital's values in another unit: the standardised arrays sit thousands of SDs from 0, and evaluate
// says so per variable (src/train/evaluate.ts scaleShiftWarnings), for time series and tabular numbers.
import { describe, expect, it } from 'vitest';
import { scaleShiftWarnings } from '../src/train/evaluate.js';

describe('scaleShiftWarnings', () => {
  const T = 2, V = 2, C = 3 * V, n = 20;
  const mods = [
    { name: 'labs', type: 'timeseries', shape: [T, C], features: ['creatinine', 'sodium', 'creatinine:observed', 'sodium:observed', 'creatinine:days_since', 'sodium:days_since'] },
    { name: 'demo', type: 'tabular', shape: [3], features: ['age', 'age:missing', 'sex=F'] },
  ];
  const arrays = (creatinine: number, age: number) => {
    const labs = new Float32Array(n * T * C), demo = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const c = (i * T + 1) * C; // bin 1 observed for both variables
      labs[c] = creatinine + 0.1 * (i % 3); labs[c + 1] = 0.2 * ((i % 5) - 2); labs[c + V] = 1; labs[c + V + 1] = 1;
      demo[i * 3] = age + 0.1 * (i % 4);
    }
    return { values: { labs, demo }, mask: new Uint8Array(n * 2).fill(1) };
  };

  it('names a variable whose median lies far from the training mean, and none that is in range', () => {
    const shifted = arrays(3500, 0.3);
    const w = scaleShiftWarnings(mods, shifted.values, shifted.mask, n);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^modality 'labs': 'creatinine' has a median 3500 training standard deviations above the training mean here \(20 values\): another unit/);
    const fine = arrays(0.5, -1.2);
    expect(scaleShiftWarnings(mods, fine.values, fine.mask, n)).toEqual([]);
    const old = arrays(0, -40); // ages in days, say
    expect(scaleShiftWarnings(mods, old.values, old.mask, n)).toEqual([expect.stringMatching(/^modality 'demo': 'age' has a median 40 training standard deviations below/)]);
  });
});
