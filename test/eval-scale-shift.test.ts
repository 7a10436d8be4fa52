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

describe("a spec's own shift split", () => {
  it('gets the unit and unseen-category warnings evaluate --spec gives another site (a new user: none for their shift hospital)', async () => {
    const { prepareDataset } = await import('../src/data/build.js');
    const { modalityWarnings } = await import('../src/data/summary.js');
    const { writeFixture } = await import('./fixtures/data/helpers.js');
    const { join } = await import('node:path');
    const patients = ['id,age,site,y,index_day'];
    const labs = ['id,day,test,value'];
    for (let i = 1; i <= 120; i++) {
      const b = i > 90; // site B: the shift environment, creatinine in µmol/L (× 88.4)
      patients.push(`${i},${40 + (i % 30)},${b ? 'B' : 'A'},${i % 4 === 0 ? 1 : 0},100`);
      labs.push(`${i},95,creat,${((0.8 + (i % 7) / 10) * (b ? 88.4 : 1)).toFixed(2)}`);
    }
    const spec = (shift: string) => `name: sites
tables:
  patients: { file: patients.csv, id: id }
  labs: { file: labs.csv, id: id, time: day }
cohort: { table: patients, index_time: index_day }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age], categorical: [site] }
  labs: { type: timeseries, table: labs, variable: test, value: value, window: { start: -30, end: 0 }, bins: 1 }
split: { method: random, seed: 1${shift} }
`;
    const dir = writeFixture({ 'patients.csv': patients.join('\n') + '\n', 'labs.csv': labs.join('\n') + '\n', 'spec.yaml': spec(", shift: { column: site, values: [B] }") });
    const w = modalityWarnings(await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).join('\n');
    expect(w).toMatch(/the shift split: modality 'labs': 'creat' has a median \d+ training standard deviations above the training mean here \(30 values\)/);
    expect(w).toMatch(/the shift split: modality 'demo': 30 of 30 patients \(100\.0%\) have a 'site' value never seen in training/);
    // the same units everywhere: nothing said
    const same = writeFixture({ 'patients.csv': patients.join('\n') + '\n', 'labs.csv': labs.map((l, k) => (k > 90 ? l.replace(/,([\d.]+)$/, (_, v) => `,${(Number(v) / 88.4).toFixed(2)}`) : l)).join('\n') + '\n', 'spec.yaml': spec(", shift: { column: site, values: [B] }") });
    expect(modalityWarnings(await prepareDataset(join(same, 'spec.yaml'), { quiet: true, cache: false })).join('\n')).not.toMatch(/'creat' has a median/);
  });
});
