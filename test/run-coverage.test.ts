// absentModalityWarnings: a modality training had that new patients all but lack is said, with what to check.
import { describe, expect, it } from 'vitest';
import { absentModalityWarnings } from '../src/run/coverage.js';

const manifest = {
  modalities: [
    { name: 'demo', type: 'tabular', features: ['age', 'age:missing'] },
    { name: 'labs', type: 'timeseries', features: ['50813', '50912', '50813:observed', '50912:observed', '50813:days_since', '50912:days_since'] },
    { name: 'dx', type: 'codes', features: ['I10', 'E119', '<other>'] },
  ],
  // labs in 60% of training patients, dx in 3% (too rare to judge)
  patterns: { masks: ['111', '110', '100', '101'], prior: [0.02, 0.58, 0.39, 0.01] },
};
const masks = (rows: string[]) => Uint8Array.from(rows.flatMap((r) => [...r].map(Number)));

describe('absentModalityWarnings', () => {
  it("names a modality seen in under a tenth of training's share, with the model's variable names", () => {
    const n = 200;
    const none = masks(Array.from({ length: n }, () => '100'));
    const w = absentModalityWarnings(manifest, none, n);
    expect(w.map((x) => x.modality)).toEqual(['labs']);
    expect(w[0].message).toBe(
      `modality 'labs' is observed for 0 of 200 patients (0.0%) against 60.0% in training: patients without it are scored as never tested; check that its variable names (the model reads e.g. "50813", "50912"), its table and its times match the training data's`,
    );
  });
  it('is quiet at a lower but real share (another practice, not another naming), and for no patients', () => {
    const n = 100;
    const some = masks(Array.from({ length: n }, (_, i) => (i < 10 ? '110' : '100'))); // 10% against 60%: above 6%
    expect(absentModalityWarnings(manifest, some, n)).toEqual([]);
    const few = masks(Array.from({ length: n }, (_, i) => (i < 5 ? '110' : '100'))); // 5%: below a tenth
    expect(absentModalityWarnings(manifest, few, n).map((x) => x.modality)).toEqual(['labs']);
    expect(absentModalityWarnings(manifest, new Uint8Array(0), 0)).toEqual([]);
  });
});

describe('absentVariableWarnings', () => {
  // labs: [T = 2 bins, 3V] with V = 2 (albumin, hr): values, observed flags, days since.
  const labs = { name: 'labs', type: 'timeseries', shape: [2, 6], features: ['albumin', 'hr', 'albumin:observed', 'hr:observed', 'albumin:days_since', 'hr:days_since'] };
  const arrays = (n: number, has: (i: number, v: number) => boolean) => {
    const x = new Float32Array(n * 12);
    for (let i = 0; i < n; i++) for (let v = 0; v < 2; v++) if (has(i, v)) x[i * 12 + 6 + 2 + v] = 1; // observed in bin 1
    return { labs: x };
  };
  it("names a variable training had that these patients all but lack, while the modality is present (a new user's external site without albumin)", async () => {
    const { variableCoverage, absentVariableWarnings } = await import('../src/run/coverage.js');
    const train = variableCoverage([labs], arrays(100, (i, v) => v === 1 || i % 5 === 0), 100);
    expect(train).toEqual({ labs: { albumin: 0.2, hr: 1 } });
    const manifest = { modalities: [labs], coverage: train };
    const w = absentVariableWarnings(manifest, arrays(50, (_, v) => v === 1), 50);
    expect(w.map((x) => x.message)).toEqual([`modality 'labs': 1 variable the model reads is all but absent for these 50 patients: "albumin" (0.0% here, 20.0% in training); they are scored as not measured: check the variable names and units of this source`]);
    // a lower but real share is another practice: quiet; so is a modality already named as absent, and an old run
    expect(absentVariableWarnings(manifest, arrays(50, (i, v) => v === 1 || i % 20 === 0), 50)).toEqual([]);
    expect(absentVariableWarnings(manifest, arrays(50, (_, v) => v === 1), 50, new Set(['labs']))).toEqual([]);
    expect(absentVariableWarnings({ modalities: [labs] }, arrays(50, (_, v) => v === 1), 50)).toEqual([]);
  });
});
