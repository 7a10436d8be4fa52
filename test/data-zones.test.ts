// Times with a zone compared with times without one: the zoneless ones are read as UTC, which moves local
// wall-clock rows by the zone's offset across the prediction time (a new user's two-hospital export). Warned of.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { writeFixture } from './fixtures/data/helpers.js';

function fixture(labTime: (i: number) => string) {
  const adm = ['id,admit,y'];
  const labs = ['id,t,test,value'];
  for (let i = 1; i <= 40; i++) {
    adm.push(`${i},2024-03-${String(1 + (i % 20)).padStart(2, '0')} 10:00:00+01:00,${i % 4 === 0 ? 1 : 0}`);
    labs.push(`${i},${labTime(i)},hb,${10 + (i % 5)}`);
  }
  return writeFixture({ 'adm.csv': adm.join('\n') + '\n', 'labs.csv': labs.join('\n') + '\n', 'spec.yaml': `name: zones
tables:
  adm: { file: adm.csv, id: id }
  labs: { file: labs.csv, id: id, time: t }
cohort: { table: adm, index_time: admit, index_offset: 24 h }
label: { column: y }
modalities:
  labs: { type: timeseries, table: labs, variable: test, value: value, window: { start: -48 h }, bins: 1 }
split: { method: random, seed: 0 }
` });
}
const day = (i: number) => `2024-03-${String(1 + (i % 20)).padStart(2, '0')}`;
const build = async (dir: string) => (await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).cohort.warnings?.join('\n') ?? '';

describe('zoned and zoneless times', () => {
  it('are warned of when compared, naming both sides; not when both carry zones', async () => {
    expect(await build(fixture((i) => `${day(i)} 20:00:00`))).toMatch(/times with a zone \(adm\.admit\) are compared with times without one \(labs\.t\), which are read as UTC/);
    expect(await build(fixture((i) => `${day(i)} 20:00:00+01:00`))).not.toMatch(/times with a zone/);
  });
});
