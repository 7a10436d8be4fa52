// Specs and data files that used to cost a run or gigabytes (an attacker's second pass): each is now refused or
// handled when the tables are read, with a message naming the file, field or column.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { parseSpec } from '../src/data/spec.js';
import { smallDataset } from './fixtures/data/helpers.js';

const build = (dir: string) => prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
const patientsCsv = (header: (h: string) => string) => {
  const rows = ['id,age,sex,y,index_day'];
  for (let i = 1; i <= 40; i++) rows.push(`${i},${40 + i},${i % 2 ? 'F' : 'M'},${i % 4 === 0 ? 1 : 0},100`);
  return [header(rows[0]), ...rows.slice(1)].map((r, k) => (k === 0 ? r : `${r},70`)).join('\n') + '\n';
};

describe('data files and specs refused or handled at load', () => {
  it('a column name with a control character is refused when the file is read (train failed after its last epoch), with the fix', async () => {
    const dir = smallDataset({ patients: patientsCsv((h) => `${h},"Weight\t(kg)"`) });
    await expect(build(dir)).rejects.toThrow(/tables\.patients: patients\.csv has a column named "Weight\\t\(kg\)", with a control character .*tables\.patients\.columns/);
    // loading only the used columns avoids it
    const spec = readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('patients: { file: patients.csv, id: id }', 'patients: { file: patients.csv, id: id, columns: [age, sex, y, index_day] }');
    writeFileSync(join(dir, 'spec.yaml'), spec);
    expect((await build(dir)).cohort.included).toBe(40);
  });

  it('a column named __proto__ is refused (a run kept it, then could not be read back)', async () => {
    const dir = smallDataset({ patients: patientsCsv((h) => `${h},__proto__`) });
    await expect(build(dir)).rejects.toThrow(/has a column named "__proto__", a name a run cannot keep/);
  });

  it('a where list of 8,000 values is checked in one join (one count a value: 23 GB), its absent values warned of', async () => {
    const dir = smallDataset();
    const values = ['hb', ...Array.from({ length: 8000 }, (_, k) => `x${k}`)];
    const spec = readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('labs: { file: labs.csv, id: id, time: day }', `labs: { file: labs.csv, id: id, time: day, where: { test: [${values.map((v) => `"${v}"`).join(', ')}] } }`);
    writeFileSync(join(dir, 'spec.yaml'), spec);
    const t0 = performance.now();
    const ds = await build(dir);
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect((ds.cohort.warnings ?? []).join('\n')).toMatch(/tables\.labs\.where\.test: "x0", "x1", .* occur nowhere in labs\.csv/);
  });

  it('a values map of 20,000 entries maps as the CASE did: the first of two equal keys wins, null is missing', async () => {
    const dir = smallDataset();
    const entries = [`" F ": female`, `"F": other`, `"M": null`, ...Array.from({ length: 20_000 }, (_, k) => `"v${k}": ${k}`)];
    const spec = readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('patients: { file: patients.csv, id: id }', `patients: { file: patients.csv, id: id, values: { sex: { ${entries.join(', ')} } } }`);
    writeFileSync(join(dir, 'spec.yaml'), spec);
    const ds = await build(dir);
    const cats = (ds.state as { modalities: { name: string; state: { categorical?: { name: string; levels: string[] }[] } }[] }).modalities.find((m) => m.name === 'demo')!.state;
    expect(JSON.stringify(cats)).toContain('female');
    expect(JSON.stringify(cats)).not.toContain('"other"');
  });

  it('timeseries edges are capped as bins are (10,000 edges took 2.5 GB in inspect)', () => {
    const edges = Array.from({ length: 1002 }, (_, k) => -30 + (30 * k) / 1001);
    const text = readFileSync(join(smallDataset(), 'spec.yaml'), 'utf8').replace('window: { start: -30, end: 0 }, bins: 2', `window: { start: -30, end: 0 }, edges: [${edges.join(', ')}]`);
    expect(() => parseSpec(text, 'spec.yaml')).toThrow(/modalities\.labs\.edges: at most 1001 edges/);
  });
});
