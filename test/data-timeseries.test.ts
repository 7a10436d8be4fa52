// Time-series tensors computed by hand on a tiny wide table: bins, mean/last, forward fill, observation mask,
// time since the last observation, standardisation with training statistics.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { writeFixture } from './fixtures/data/helpers.js';

// Patients 1..20, index day 100. Visits (wide: a, b): every patient at day 80 (a = id, b empty) and day 95
// (a = id + 1, b = 2·id); odd patients also at day 99 (a = 100, b empty). Patient 20 has no visit.
function fixture(aggregate: 'last' | 'mean') {
  const patients = ['pid,idx,y'];
  const visits = ['pid,day,a,b'];
  for (let i = 1; i <= 20; i++) {
    patients.push(`${i},100,${i % 2}`);
    if (i === 20) continue;
    visits.push(`${i},80,${i},`, `${i},95,${i + 1},${2 * i}`);
    if (i % 2) visits.push(`${i},99,100,`);
    visits.push(`${i},101,-5,-5`); // after the index: ignored
  }
  return writeFixture({
    'patients.csv': patients.join('\n') + '\n',
    'visits.csv': visits.join('\n') + '\n',
    'spec.yaml': `name: wide
tables:
  patients: { file: patients.csv, id: pid }
  visits: { file: visits.csv, id: pid, time: day }
cohort: { table: patients, index_time: idx }
label: { column: y }
modalities:
  base: { type: tabular, table: patients, numeric: [idx] }
  vis: { type: timeseries, table: visits, columns: [a, b], window: { start: -30, end: 0 }, edges: [-30, -10, 0], aggregate: ${aggregate} }
split: { method: random, seed: 0, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`,
  });
}

describe('timeseries tensors', () => {
  for (const aggregate of ['last', 'mean'] as const)
    it(`wide table, aggregate ${aggregate}`, async () => {
      const ds = await prepareDataset(join(fixture(aggregate), 'spec.yaml'), { quiet: true, cache: false });
      const info = ds.modalities[1];
      expect(info.shape).toEqual([2, 6]);
      expect(info.features).toEqual(['a', 'b', 'a:observed', 'b:observed', 'a:days_since', 'b:days_since']);
      const st = (ds.state as { modalities: { state: { variables: { name: string; mean: number; std: number }[] } }[] }).modalities[1].state.variables;
      // Expected bin-1 aggregate of a (bin 0 = [-30,-10): day 80 → rel -20; bin 1 = [-10, 0]: days 95, 99).
      const binA = (i: number) => [i, i % 2 ? (aggregate === 'last' ? 100 : (i + 1 + 100) / 2) : i + 1];
      const train = ds.splits.train.ids.map(Number).filter((i) => i !== 20);
      const cellsA = train.flatMap(binA);
      const meanA = cellsA.reduce((x, y) => x + y, 0) / cellsA.length;
      expect(st[0].mean).toBeCloseTo(meanA, 4);
      const stdA = Math.sqrt(cellsA.reduce((x, y) => x + (y - meanA) ** 2, 0) / cellsA.length);
      for (const s of Object.values(ds.splits))
        s.ids.forEach((id, r) => {
          const i = Number(id);
          const v = Array.from(s.values.vis.subarray(r * 12, (r + 1) * 12));
          if (i === 20) {
            expect(s.mask[r * 2 + 1]).toBe(0);
            expect(v.every((x) => x === 0)).toBe(true);
            return;
          }
          const [a0, a1] = binA(i);
          const scale = Math.log1p(30);
          // bin 0: a observed (day 80, 10 days before bin end -10), b not observed yet
          expect(v[0]).toBeCloseTo((a0 - st[0].mean) / st[0].std, 4);
          expect(v.slice(1, 6)).toEqual([0, 1, 0, expect.closeTo(Math.log1p(10) / scale, 5), 1]);
          // bin 1: both observed; a's latest at day 99 (odd) or 95; b at day 95
          expect(v[6]).toBeCloseTo((a1 - st[0].mean) / st[0].std, 4);
          expect(v[7]).toBeCloseTo((2 * i - st[1].mean) / st[1].std, 4);
          expect(v.slice(8, 10)).toEqual([1, 1]);
          expect(v[10]).toBeCloseTo(Math.log1p(i % 2 ? 1 : 5) / scale, 5);
          expect(v[11]).toBeCloseTo(Math.log1p(5) / scale, 5);
        });
      expect(st[0].std).toBeCloseTo(stdA, 3);
    });
});

// Patients 1..30, index day 100; labs a, b, c at days 20..100 with values that differ per row; `modalities`:
// YAML lines "name: { … }" added after a tabular base modality.
function labsFixture(modalities: string[]) {
  const patients = ['pid,idx,y'];
  const labs = ['pid,day,test,value'];
  for (let i = 1; i <= 30; i++) {
    patients.push(`${i},100,${i % 2}`);
    for (let d = 20; d <= 100; d += 7 + (i % 3)) labs.push(`${i},${d},${'abc'[(i + d) % 3]},${(i * 31 + d * 7) % 97}`);
  }
  return writeFixture({
    'patients.csv': patients.join('\n') + '\n',
    'labs.csv': labs.join('\n') + '\n',
    'spec.yaml': `name: shared
tables:
  patients: { file: patients.csv, id: pid }
  labs: { file: labs.csv, id: pid, time: day }
cohort: { table: patients, index_time: idx }
label: { column: y }
modalities:
  base: { type: tabular, table: patients, numeric: [idx] }
${modalities.map((m) => `  ${m}`).join('\n')}
split: { method: random, seed: 0, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`,
  });
}

describe('one scan per long table', () => {
  const modalities = {
    recent: '{ type: timeseries, table: labs, variable: test, value: value, variables: [a, b], window: { start: -20, end: 0 }, bins: 2, aggregate: last }',
    older: '{ type: timeseries, table: labs, variable: test, value: value, variables: [b, c], window: { start: -80, end: -10 }, edges: [-80, -40, -25, -10], aggregate: mean }',
    all: '{ type: timeseries, table: labs, variable: test, value: value, window: { start: -60, end: 0 }, bins: 3, aggregate: last }',
  };
  const fixture = (names: (keyof typeof modalities)[]) => labsFixture(names.map((n) => `${n}: ${modalities[n]}`));

  it('modalities sharing a table get exactly what each would get from a scan of its own', async () => {
    const names = Object.keys(modalities) as (keyof typeof modalities)[];
    const together = await prepareDataset(join(fixture(names), 'spec.yaml'), { quiet: true, cache: false });
    for (const name of names) {
      const alone = await prepareDataset(join(fixture([name]), 'spec.yaml'), { quiet: true, cache: false });
      for (const split of ['train', 'test'] as const) {
        expect(together.splits[split].ids).toEqual(alone.splits[split].ids);
        const a = together.splits[split].values[name], b = alone.splits[split].values[name];
        expect(a.length).toBe(b.length);
        expect(Array.from(a)).toEqual(Array.from(b));
        expect(a.some((x) => x !== 0)).toBe(true);
      }
    }
  });
});

describe('listed variables that never occur', () => {
  it('are named in a warning that inspect and train print; variables that occur give none', async () => {
    const { summarize, modalityWarnings } = await import('../src/data/summary.js');
    const clean = await prepareDataset(join(fixtureWith('[a, b]'), 'spec.yaml'), { quiet: true, cache: false });
    expect(modalityWarnings(clean)).toEqual([]);
    const ds = await prepareDataset(join(fixtureWith('[a, hba1c, b, ldl]'), 'spec.yaml'), { quiet: true, cache: false });
    const w = `modality 'labs': listed variables "hba1c", "ldl" occur in no training patient's window: their channels stay zero (check the names against the table)`;
    expect(modalityWarnings(ds)).toEqual([w]);
    expect(summarize(ds).warnings).toContain(w);
    // the variables still have their channels (the model's shape follows the spec)
    expect(ds.modalities[1].variables).toBe(4);
    // a run folder keeps the list: the state read back is the state written (evaluate compares them)
    const { dataStateSchema } = await import('../src/data/state.js');
    expect(JSON.stringify(dataStateSchema.parse(JSON.parse(JSON.stringify(ds.state))))).toBe(JSON.stringify(ds.state));
    // a name that differs from one in the table by case gets it as "did you mean"
    const cased = await prepareDataset(join(fixtureWith('[A, b]'), 'spec.yaml'), { quiet: true, cache: false });
    expect(modalityWarnings(cased)).toContain(`modalities.labs.variables: "A" is not a value of 'test' in table 'labs': did you mean "a"? (variable names are compared exactly)`);
  });
  const fixtureWith = (variables: string) =>
    labsFixture([`labs: { type: timeseries, table: labs, variable: test, value: value, variables: ${variables}, window: { start: -20 }, bins: 1 }`]);
});

describe('a long table read in patient ranges', () => {
  it('gives the same cells as one query, for numeric and text ids', async () => {
    const { Db } = await import('../src/data/db.js');
    const { buildCohort } = await import('../src/data/cohort.js');
    const { parseSpec } = await import('../src/data/spec.js');
    const { timeseriesBuilder } = await import('../src/data/modalities/timeseries.js');
    for (const id of ['range', `'p' || CAST(range * 7 % 101 AS VARCHAR)`]) {
      const spec = parseSpec(
        `name: t
tables:
  patients: { file: none.csv, id: id }
  labs: { file: none.csv, id: id, time: day }
cohort: { table: patients, index_time: index_day }
label: { column: y }
modalities:
  labs: { type: timeseries, table: labs, variable: variable, value: value, window: { start: -60, end: 0 }, bins: 3, aggregate: mean }
`,
        't.yaml',
      );
      const db = await Db.open('t.yaml');
      try {
        await db.run(`CREATE TABLE t_patients AS SELECT ${id} AS id, 100.0 AS index_day, CAST(range % 2 AS INTEGER) AS y FROM range(101)`);
        await db.run(`CREATE TABLE t_labs AS SELECT p.id, CAST(30 + hash(i) % 80 AS DOUBLE) AS day, 'v' || CAST(hash(i * 3) % 4 AS VARCHAR) AS variable,
          CAST(hash(i * 5) % 1000 AS DOUBLE) / 10 AS value FROM range(5000) t(i) JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM t_patients) p ON p.k = i % 101`);
        await db.describe('patients', spec.tables.patients, 'patients', false);
        await db.describe('labs', spec.tables.labs, 'labs', false);
        const cohort = await buildCohort(db, spec, { withLabels: true });
        const m = spec.modalities.labs;
        if (m.type !== 'timeseries') throw new Error('unreachable');
        const ctx = { db, spec, specFile: 't.yaml', n: cohort.ids.length, idxKind: cohort.idxKind };
        const whole = await timeseriesBuilder(m).extract(ctx, 'labs');
        const ranged = await timeseriesBuilder(m).extract({ ...ctx, rowsPerBatch: 600 }, 'labs'); // 9 ranges
        // Rows aggregated a patient block at a time: blocks of one patient, and of 4 (240 bytes of cells a patient).
        const grouped = await timeseriesBuilder(m).extract({ ...ctx, grouping: { fromBytes: 0, blockBytes: 1 } }, 'labs');
        const groupedRanged = await timeseriesBuilder(m).extract({ ...ctx, rowsPerBatch: 600, grouping: { fromBytes: 0, blockBytes: 1000 } }, 'labs');
        expect(whole.present.reduce((a, b) => a + b, 0)).toBeGreaterThan(90);
        for (const other of [ranged, grouped, groupedRanged]) {
          expect(Array.from(other.present)).toEqual(Array.from(whole.present));
          // Means: the rows of a cell may be summed in another order (float32 results, so 1e-5 relative).
          expect(Array.from(other.value, Number.isNaN)).toEqual(Array.from(whole.value, Number.isNaN));
          other.value.forEach((x, c) => Number.isNaN(x) || expect(Math.abs(x - whole.value[c])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x))));
          expect(Array.from(other.tlast)).toEqual(Array.from(whole.tlast));
        }
      } finally {
        db.close();
      }
    }
  });
});

describe('blockOrder', () => {
  it('is a permutation that groups rows by key block and keeps their order within a block', async () => {
    const { blockOrder } = await import('../src/data/modalities/common.js');
    const key = Float64Array.from({ length: 1000 }, (_, i) => (i * 7919) % 37);
    for (const shift of [0, 2, 5, 8]) {
      const order = blockOrder(key, key.length, shift);
      expect([...order].sort((a, b) => a - b)).toEqual([...key.keys()]);
      const block = (r: number) => Math.floor(key[r] / 2 ** shift);
      for (let q = 1; q < order.length; q++) {
        const [a, b] = [order[q - 1], order[q]];
        expect(block(a) < block(b) || (block(a) === block(b) && a < b)).toBe(true);
      }
    }
    expect(() => blockOrder(Float64Array.of(1, -1), 2, 0)).toThrow(/not a non-negative integer/);
    expect(blockOrder(new Float64Array(0), 0, 3)).toHaveLength(0);
  });
});
