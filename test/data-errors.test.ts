// Bad input → a CdmmError naming file and field/row, non-zero exit, and no partial output.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { loadSpec } from '../src/data/spec.js';
import { CdmmError } from '../src/util/errors.js';
import { smallDataset, tempDir } from './fixtures/data/helpers.js';

async function buildError(dir: string): Promise<CdmmError> {
  try {
    await prepareDataset(join(dir, 'spec.yaml'), { quiet: true });
  } catch (e) {
    expect(e).toBeInstanceOf(CdmmError);
    expect(existsSync(join(dir, '.cdmm-cache'))).toBe(false); // nothing cached from a failed build
    return e as CdmmError;
  }
  throw new Error('expected the build to fail');
}

function editSpec(dir: string, from: string | RegExp, to: string): void {
  const p = join(dir, 'spec.yaml');
  const s = readFileSync(p, 'utf8');
  const t = s.replace(from, to);
  expect(t).not.toBe(s);
  writeFileSync(p, t);
}

describe('data errors', () => {
  it('a valid small dataset builds (the fixtures below differ from it in one thing)', async () => {
    const ds = await prepareDataset(join(smallDataset(), 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.included).toBe(40);
  });

  it('missing file names the field and the path', async () => {
    const dir = smallDataset();
    editSpec(dir, 'file: labs.csv', 'file: nolabs.csv');
    const e = await buildError(dir);
    expect(e.message).toMatch(/spec\.yaml: tables\.labs\.file: file not found: .*nolabs\.csv/);
  });

  it('files are read together, but errors come in spec order: the first broken table is the one named', async () => {
    // Both files have a ragged row: patients (first in the spec) is reported; once fixed, labs.
    const patients = 'id,age,sex,y,index_day\n1,41,F,0,100\n2,42,M,1\n';
    const labs = 'id,day,test,value\n1,90,hb,10\n2,90,hb\n';
    const dir = smallDataset({ patients, labs });
    expect((await buildError(dir)).message).toMatch(/tables\.patients\.file: .*patients\.csv: line 3 has 4 fields but the header has 5/);
    writeFileSync(join(dir, 'patients.csv'), 'id,age,sex,y,index_day\n1,41,F,0,100\n2,42,M,1,100\n');
    expect((await buildError(dir)).message).toMatch(/tables\.labs\.file: .*labs\.csv: line 3 has 3 fields but the header has 4/);
  });

  it('a quote inside a quoted field that is not doubled names its line, with the delimiter given or not', async () => {
    const labs = ['id,day,test,value', ...Array.from({ length: 30 }, (_, i) => `${i + 1},90,${i === 11 ? '"hb "fasting" a"' : '"hb"'},${10 + (i % 5)}`)].join('\n') + '\n';
    const dir = smallDataset({ labs });
    expect((await buildError(dir)).message).toMatch(/tables\.labs\.file: .*labs\.csv: line 13 has a quote inside a quoted field that is not doubled \("12,90,\\"hb \\"fasting\\" a\\",11"\): inside a quoted field a quote is written twice/);
    editSpec(dir, 'file: labs.csv', 'file: labs.csv, delimiter: ","');
    expect((await buildError(dir)).message).toMatch(/labs\.csv: line 13 has a quote inside a quoted field that is not doubled/);
    // Doubled, the same text reads; so does a value that starts with a doubled quote, in a ';' file too (a reviewer's
    // files were refused when the scan used another delimiter than the file's).
    writeFileSync(join(dir, 'labs.csv'), labs.replace('"hb "fasting" a"', '"hb ""fasting"" a"'));
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).resolves.toBeTruthy();
    // In a folder of CSV files too (each file is sniffed on its own): the file that has it is named.
    mkdirSync(join(dir, 'labsdir'));
    writeFileSync(join(dir, 'labsdir', 'a.csv'), labs.replace('"hb "fasting" a"', '"hb ""fasting"" a"'));
    writeFileSync(join(dir, 'labsdir', 'b.csv'), labs);
    editSpec(dir, 'file: labs.csv, delimiter: ","', 'file: labsdir/, format: csv');
    expect((await buildError(dir)).message).toMatch(/labsdir\/b\.csv: line 13 has a quote inside a quoted field that is not doubled/);
    writeFileSync(join(dir, 'labsdir', 'b.csv'), labs.replace('"hb "fasting" a"', '"hb ""fasting"" a"'));
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).resolves.toBeTruthy();
    const semi = smallDataset({ labs: ['"id";"day";"test";"value"', ...Array.from({ length: 30 }, (_, i) => `"${i + 1}";"90";"${i === 4 ? '""hb"" x' : 'hb'}";"${10 + (i % 5)}"`)].join('\n') + '\n' });
    await expect(prepareDataset(join(semi, 'spec.yaml'), { quiet: true, cache: false })).resolves.toBeTruthy();
  });

  it('a STRUCT, MAP or nested-list Parquet column is left out where the spec names it nowhere, and an error before any work where it does', async () => {
    const dir = smallDataset();
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    await con.run(`COPY (SELECT *, {'a': id} AS extra_struct, MAP {'k': id} AS extra_map, [[id]] AS extra_nested FROM read_csv('${join(dir, 'patients.csv')}')) TO '${join(dir, 'patients.parquet')}' (FORMAT parquet)`);
    editSpec(dir, 'file: patients.csv', 'file: patients.parquet');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.included).toBe(40);
    const types = (ds.state as { tableTypes: Record<string, Record<string, string>> }).tableTypes.patients;
    expect(Object.keys(types).filter((c) => c.startsWith('extra'))).toEqual([]);
    editSpec(dir, 'numeric: [age]', 'numeric: [age, extra_struct]');
    expect((await buildError(dir)).message).toMatch(/tables\.patients: column 'extra_struct' of patients\.parquet has type STRUCT\(a BIGINT\), which cdmm does not read/);
  });

  it('unknown column names the spec field, the table and the file', async () => {
    const dir = smallDataset();
    editSpec(dir, 'numeric: [age]', 'numeric: [agee]');
    const e = await buildError(dir);
    expect(e.message).toContain("modalities.demo.numeric[0]: column 'agee' not found in table 'patients' (patients.csv) (did you mean 'age'? names are case-sensitive)");
  });

  it('a column that differs only in case is named', async () => {
    const dir = smallDataset();
    editSpec(dir, 'numeric: [age]', 'numeric: [AGE]');
    expect((await buildError(dir)).message).toContain("column 'AGE' not found in table 'patients' (patients.csv) (did you mean 'age'? names are case-sensitive); columns: id, age");
  });

  it('non-numeric text in a numeric column names file, line and column', async () => {
    const labs = 'id,day,test,value\n1,90,hb,10\n2,90,hb,11\n3,95,hb,high\n';
    const e = await buildError(smallDataset({ labs }));
    expect(e.message).toMatch(/labs\.csv: line 4, column 'value': non-numeric value "high"/);
    expect(e.message).toContain('modalities.labs.value');
  });

  it('its hint fits the value: a decimal comma suggests decimal: ",", a row of a variable the modality does not list suggests where', async () => {
    const comma = await buildError(smallDataset({ labs: 'id,day,test,value\n1,90,hb,10\n2,90,hb,"11,5"\n' }));
    expect(comma.message).toMatch(/line 3, column 'value': non-numeric value "11,5" .*a decimal comma\? if the file writes decimals with ',', set tables\.labs\.decimal: ","/);
    // 1,000 reads as a thousands separator, not a decimal comma: the usual hint.
    const thousands = await buildError(smallDataset({ labs: 'id,day,test,value\n1,90,hb,10\n2,90,hb,"1,000"\n' }));
    expect(thousands.message).not.toMatch(/decimal comma/);
    const spec = (variables: string) => `name: small
tables:
  patients: { file: patients.csv, id: id }
  labs: { file: labs.csv, id: id, time: day }
cohort: { table: patients, index_time: index_day }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: test, value: value, ${variables}window: { start: -30, end: 0 }, bins: 2 }
`;
    const labs = 'id,day,test,value\n1,90,hb,10\n2,90,bp,110/70\n';
    const unlisted = await buildError(smallDataset({ labs, spec: spec('variables: [hb], ') }));
    expect(unlisted.message).toMatch(/line 3, column 'value': non-numeric value "110\/70" .*the row is test "bp", which the modality does not use: to read only its variables' rows, set tables\.labs\.where: \{ test: \["hb"\] \}/);
    expect((await buildError(smallDataset({ labs, spec: spec('') }))).message).toMatch(/list them in tables\.labs\.na_values/);
  });

  it('a Latin-1 file names its first line that is not UTF-8 and the encoding option; with it the text reads right', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const spec = (enc: string) => `name: small
tables:
  patients: { file: patients.csv, id: id${enc} }
  labs: { file: labs.csv, id: id, time: day }
cohort: { table: patients, index_time: index_day }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age], categorical: [sex] }
  labs: { type: timeseries, table: labs, variable: test, value: value, window: { start: -30, end: 0 }, bins: 2 }
`;
    const dir = smallDataset({ spec: spec('') });
    const lines = ['id,age,sex,y,index_day'];
    for (let i = 1; i <= 40; i++) lines.push(`${i},${40 + i},${i === 3 ? 'f\xe9minin' : i % 2 ? 'F' : 'M'},${i % 4 === 0 ? 1 : 0},100`);
    writeFileSync(join(dir, 'patients.csv'), Buffer.from(lines.join('\n') + '\n', 'latin1'));
    const e = await buildError(dir);
    expect(e.message).toMatch(/tables\.patients\.file: cannot read .*patients\.csv: line 4 is not UTF-8 text \(a Windows or Latin-1 export\?\): set tables\.patients\.encoding: latin-1/);
    writeFileSync(join(dir, 'spec.yaml'), spec(', encoding: latin-1'));
    const { prepareDataset } = await import('../src/data/build.js');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(JSON.stringify(ds.state)).toContain('féminin');
  });

  it('a quoted field with line breaks: errors name the file line of the record, not its number', async () => {
    // The test name of record 2 spans three lines, so "high" (record 4) is on line 6 of the file.
    const labs = 'id,day,test,value\n1,90,"hb\nfirst draw\nrepeated",10\n2,90,hb,11\n3,95,hb,high\n';
    const e = await buildError(smallDataset({ labs }));
    expect(e.message).toMatch(/labs\.csv: line 6, column 'value': non-numeric value "high"/);
    expect(labs.split('\n')[5]).toBe('3,95,hb,high'); // line 6 of the file
    // a doubled quote inside a quoted field, then a field that spans lines: still the file line
    const labs2 = 'id,day,test,value\n1,90,"hb ""fresh""",10\n2,90,"hb\nagain",11\n3,95,hb,high\n';
    expect((await buildError(smallDataset({ labs: labs2 }))).message).toMatch(/labs\.csv: line 5, column 'value': non-numeric value "high"/);
  });

  it('record lines: a quote opens a field only at its start; a record past the end is not invented', async () => {
    const { recordStartLines } = await import('../src/data/paths.js');
    const p = join(tempDir(), 'q.csv');
    writeFileSync(p, 'a,b\n1,tube 12" wide\n\n2,"x\ny"\n3,z\n');
    const m = await recordStartLines(p, [2, 3, 4, 9]);
    expect([...m.entries()]).toEqual([[2, 2], [3, 4], [4, 6]]);
  });

  it('values far into a file keep what they are: text names its line, a decimal or a time of day is not rounded away', async () => {
    // DuckDB's default type sample (the first rows) would read 12.5 after 30,000 integers as 13 and keep only the
    // date of a timestamp after 30,000 dates; types come from the whole file.
    const rows = ['id,day,test,value'];
    for (let k = 0; k < 30_000; k++) rows.push(`${(k % 40) + 1},90,hb,${10 + (k % 7)}`);
    rows.push('5,95,hb,high');
    const e = await buildError(smallDataset({ labs: rows.join('\n') + '\n' }));
    expect(e.message).toMatch(/labs\.csv: line 30002, column 'value': non-numeric value "high"/);
    const { Db } = await import('../src/data/db.js');
    const dir = tempDir();
    const lines = ['id,v,t'];
    for (let k = 0; k < 30_000; k++) lines.push(`${k},${k % 9},2020-01-0${1 + (k % 9)}`);
    lines.push('30000,12.5,2020-01-01 10:30:00');
    writeFileSync(join(dir, 'late.csv'), lines.join('\n') + '\n');
    const db = await Db.open('spec.yaml');
    try {
      await db.registerFile('late', { file: 'late.csv', id: 'id' } as never, dir);
      const [last] = await db.rows(`SELECT CAST(v AS VARCHAR) AS v, CAST(t AS VARCHAR) AS t FROM t_late WHERE id = 30000`);
      expect(Number(last.v)).toBe(12.5);
      expect(String(last.t)).toContain('10:30');
    } finally {
      db.close();
    }
  });

  it('infinite or NaN numbers are input errors naming the line', async () => {
    const labs = 'id,day,test,value\n1,90,hb,10.5\n2,90,hb,inf\n';
    const e = await buildError(smallDataset({ labs }));
    expect(e.message).toMatch(/labs\.csv: line 3, column 'value': non-finite value inf/);
    expect(e.message).not.toMatch(/na_values/);
    // NaN is how many exports write a missing value: the error says which setting reads it so
    const nan = await buildError(smallDataset({ labs: 'id,day,test,value\n1,90,hb,10.5\n2,90,hb,NaN\n' }));
    expect(nan.message).toMatch(/labs\.csv: line 3, column 'value': non-finite value nan; if the file writes NaN for a missing value, give tables\.labs\.na_values: \[NaN\]/);
  });

  it('a cohort left with no patient says where they went, not "all 0 patients have label 0"', async () => {
    // a spec whose only modality is the labs, every lab after the index (day 100): no patient has anything observed
    const dir = smallDataset({ labs: 'id,day,test,value\n' + Array.from({ length: 40 }, (_, i) => `${i + 1},200,hb,${10 + (i % 5)}`).join('\n') + '\n' });
    editSpec(dir, /  demo:[^\n]*\n/, '');
    const e = await buildError(dir);
    expect(e.message).toMatch(/split: the training split is empty \(left out: no modality observed: 40\); a patient needs a label and at least one modality observed at the prediction time/);
  });

  it('a Parquet list column is refused where one value per row is read (it became one code per whole list)', async () => {
    const dir = smallDataset();
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    await con.run(`COPY (SELECT id, day, [test, 'x'] AS test, value FROM read_csv('${join(dir, 'labs.csv')}', header=true)) TO '${join(dir, 'labs.parquet')}' (FORMAT parquet)`);
    con.closeSync();
    editSpec(dir, 'file: labs.csv', 'file: labs.parquet');
    const e = await buildError(dir);
    expect(e.message).toMatch(/modalities\.labs\.variable: column 'test' of labs\.parquet holds VARCHAR\[\] values \(a list or record per row\); cdmm reads one value per row/);
  });

  it('a Parquet text time column mixing an offset with zoneless times is an error naming both rows', async () => {
    const dir = smallDataset({ labs: 'id,day,test,value\n1,2020-01-01T10:00:00-05:00,hb,10.5\n2,2020-01-01 09:00:00,hb,11\n', patients: 'id,age,sex,y,index_day\n' + Array.from({ length: 40 }, (_, i) => `${i + 1},${40 + i},F,${i % 4 === 0 ? 1 : 0},2020-01-02 00:00:00`).join('\n') + '\n' });
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    await con.run(`COPY (SELECT * FROM read_csv('${join(dir, 'labs.csv')}', header=true, all_varchar=true)) TO '${join(dir, 'labs.parquet')}' (FORMAT parquet)`);
    con.closeSync();
    editSpec(dir, 'file: labs.csv', 'file: labs.parquet');
    const e = await buildError(dir);
    expect(e.message).toMatch(/labs\.parquet: row 2, column 'day': time "2020-01-01 09:00:00" has no zone, while row 1 has one \("2020-01-01T10:00:00-05:00"\)/);
  });

  it('a header read as one column because of the delimiter says so (not "column not found" alone)', async () => {
    const dir = smallDataset();
    const f = join(dir, 'labs.csv');
    writeFileSync(f, readFileSync(f, 'utf8').replaceAll(',', '|'));
    editSpec(dir, 'file: labs.csv', 'file: labs.csv, delimiter: ","');
    const e = await buildError(dir);
    expect(e.message).toMatch(/column 'id' not found in .*labs\.csv.* \(the header was read as one column: the file looks '\|'-separated; give tables\.labs\.delimiter: "\|", or leave delimiter out to detect it\); columns: id\|day\|test\|value/);
  });

  it('numbers beyond float32 (Infinity in the tensors) are input errors naming the line, in number and text columns', async () => {
    for (const v of ['1e300', '-4e38']) {
      const e = await buildError(smallDataset({ labs: `id,day,test,value\n1,90,hb,10.5\n2,90,hb,${v}\n` }));
      expect(e.message).toMatch(/labs\.csv: line 3, column 'value': value -?[0-9.e+]+ beyond ±3\.4e38, the float32 range the model computes in/);
    }
    // A column DuckDB reads as text (here a value with a trailing space), converted to numbers, is checked the
    // same way once converted.
    const typed = await buildError(smallDataset({ labs: 'id,day,test,value\n1,90,hb,10.5\n2,90,hb,1e300\n3,90,hb,7 \n' }));
    expect(typed.message).toMatch(/labs\.csv: line 3, column 'value': value .* beyond ±3\.4e38/);
  });

  it('rows without a time are counted in a warning (they cannot fall in a window)', async () => {
    const dir = smallDataset({ labs: 'id,day,test,value\n1,90,hb,10.5\n2,,hb,11\n3,,hb,12\n4,95,hb,13\n' });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.warnings?.join('\n')).toMatch(/tables\.labs\.time: 2 rows of labs\.csv have no time \(blank\) and are not used/);
  });

  it('a Parquet table names the row (it has no lines)', async () => {
    const dir = smallDataset({ labs: 'id,day,test,value\n1,90,hb,10.5\n2,90,hb,11\n3,90,hb,inf\n' });
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    await con.run(`COPY (SELECT * FROM read_csv('${join(dir, 'labs.csv')}', header=true, types={'value': 'DOUBLE'})) TO '${join(dir, 'labs.parquet')}' (FORMAT parquet)`);
    con.closeSync();
    editSpec(dir, 'file: labs.csv', 'file: labs.parquet');
    const e = await buildError(dir);
    expect(e.message).toMatch(/labs\.parquet: row 3, column 'value': non-finite value inf/);
  });

  it('a time that is neither days nor a timestamp names the line; timestamps in text are accepted', async () => {
    const labs = 'id,day,test,value\n1,2020-01-01,hb,10\n2,last week,hb,11\n';
    const e = await buildError(smallDataset({ labs }));
    expect(e.message).toMatch(/labs\.csv: line 3, column 'day': time "last week" is neither a number of days nor a timestamp nor an elapsed time such as "47:59" \(spec\.yaml: tables\.labs\.time; for another layout give tables\.labs\.time_format/);
    // Timestamps on both clocks work, in days: a lab 3 days before a timestamp index time.
    const patients = 'id,age,sex,y,index_day\n1,50,F,0,2020-01-10 12:00\n2,60,M,1,2020-01-10\n3,61,M,0,2020-01-10\n4,62,F,1,2020-01-10\n';
    const dir = smallDataset({ patients, labs: 'id,day,test,value\n1,2020-01-07 12:00,hb,10\n2,2020-01-11,hb,11\n' });
    const p = join(dir, 'spec.yaml');
    writeFileSync(p, readFileSync(p, 'utf8').replace('split: { method: random, seed: 1 }', 'split: { method: column, column: age, values: { train: [50, 60], val: [61], test: [62] } }'));
    const ds = await prepareDataset(p, { quiet: true, cache: false });
    const train = ds.splits.train;
    expect(train.ids).toEqual(['1', '2']);
    expect(Array.from(train.mask)).toEqual([1, 1, 1, 0]); // patient 2's lab is a day after its index: not used
    // [T=2, 3V=3]: bin 1 (of [-30,-15), [-15,0]) holds the lab 3 days before the index
    expect(train.values.labs[3 + 1]).toBe(1);
    expect(train.values.labs[3 + 2]).toBeCloseTo(Math.log1p(3) / Math.log1p(30), 5);
  });

  it('duplicate ids in a one-row-per-patient table name the id and lines', async () => {
    const patients = 'id,age,sex,y,index_day\n1,50,F,0,100\n2,51,M,1,100\n2,52,M,0,100\n3,53,F,1,100\n';
    const e = await buildError(smallDataset({ patients }));
    expect(e.message).toMatch(/patients\.csv: duplicate id 2 appears 2 times \(lines 3, 4\), but/);
    // several repeated ids: the first named, the others counted
    const more = 'id,age,sex,y,index_day\n1,50,F,0,100\n2,51,M,1,100\n2,52,M,0,100\n3,53,F,1,100\n3,54,F,1,100\n1,55,F,1,100\n';
    const e2 = await buildError(smallDataset({ patients: more }));
    expect(e2.message).toMatch(/patients\.csv: duplicate id 1 appears 2 times \(lines 2, 7\) \(2 other ids repeat too\), but/);
  });

  it('a missing index time names the line and the id', async () => {
    const patients = 'id,age,sex,y,index_day\n1,50,F,0,100\n2,51,M,1,\n3,53,F,1,100\n';
    const e = await buildError(smallDataset({ patients }));
    expect(e.message).toMatch(/patients\.csv: line 3 \(id 2\): index time 'index_day' is missing .*to leave such rows out, add the filter "index_day IS NOT NULL" to cohort\.filters/);
  });

  it('a missing index time in a row the cohort filters leave out is no error', async () => {
    const dir = smallDataset();
    const p = join(dir, 'patients.csv');
    const lines = readFileSync(p, 'utf8').trim().split('\n');
    lines[2] = lines[2].replace(/,[^,]*$/, ','); // line 3 (id 2): blank index_day
    writeFileSync(p, lines.join('\n') + '\n');
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/line 3 \(id 2\): index time 'index_day' is missing/);
    editSpec(dir, 'index_time: index_day }', 'index_time: index_day, filters: ["index_day IS NOT NULL"] }');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.exclusions['filter: index_day IS NOT NULL']).toBe(1);
    expect(Object.values(ds.splits).some((sp) => sp.ids.includes('2'))).toBe(false);
  });

  it('an empty cohort (all filtered out) is an error that gives the exclusions', async () => {
    const dir = smallDataset();
    editSpec(dir, 'index_time: index_day }', 'index_time: index_day, filters: ["age > 1000"] }');
    const e = await buildError(dir);
    expect(e.message).toMatch(/cohort: no patient left \(40 in patients\.csv; excluded: filter: age > 1000: 40\)/);
  });

  it('a label with one class is an error', async () => {
    const dir = smallDataset();
    editSpec(dir, 'index_time: index_day }', 'index_time: index_day, filters: ["y = 0"] }');
    const e = await buildError(dir);
    expect(e.message).toMatch(/label: only one class among the 30 included patients \(all 0\)/);
  });

  it('a non-binary label value names the line', async () => {
    const patients = 'id,age,sex,y,index_day\n1,50,F,0,100\n2,51,M,2,100\n';
    const e = await buildError(smallDataset({ patients }));
    expect(e.message).toMatch(/patients\.csv: line 3, column 'y': label value "2" is not binary/);
    // An "unknown" marker gets the fix that makes it missing, not only the one that names the outcome's values.
    const unknown = await buildError(smallDataset({ patients: 'id,age,sex,y,index_day\n1,50,F,0,100\n2,51,M,unknown,100\n' }));
    expect(unknown.message).toMatch(/label\.positive: "unknown"; if it means "outcome unknown", make it missing: tables\.patients\.values: \{ y: \{ "unknown": null \} \} or tables\.patients\.na_values: \["unknown"\]\)/);
  });

  it('an unknown modality type names the field path', () => {
    const dir = smallDataset();
    editSpec(dir, 'type: tabular', 'type: spreadsheet');
    expect(() => loadSpec(join(dir, 'spec.yaml'))).toThrow(/spec\.yaml: modalities\.demo\.type: unknown value "spreadsheet"; expected one of tabular, timeseries, codes, text, embedding/);
  });

  it('a wrongly typed field names its path', () => {
    const dir = smallDataset();
    editSpec(dir, 'start: -30', 'start: "a month"');
    expect(() => loadSpec(join(dir, 'spec.yaml'))).toThrow(/^spec\.yaml: modalities\.labs\.window\.start: expected a number of days or a duration such as "24 h", "1440 min", "2 days" \(got "a month"\)$/);
  });

  it('a window reaching after the index time is refused unless allowed', () => {
    const dir = smallDataset();
    editSpec(dir, 'end: 0', 'end: 5');
    expect(() => loadSpec(join(dir, 'spec.yaml'))).toThrow(/modalities\.labs\.window\.end: window end must be <= 0/);
  });

  it('the CLI prints the error and exits 2 without a stack trace', () => {
    const dir = smallDataset();
    editSpec(dir, 'file: labs.csv', 'file: nolabs.csv');
    let status = 0;
    let stderr = '';
    try {
      execFileSync('npx', ['tsx', 'test/fixtures/data/cli.ts', 'inspect', join(dir, 'spec.yaml')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = (e as { stderr: string }).stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/^cdmm: error: spec\.yaml: tables\.labs\.file: file not found/m);
    expect(stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('simulate with a bad option writes nothing', () => {
    const out = join(tempDir(), 'sim');
    let status = 0;
    try {
      execFileSync('npx', ['tsx', 'test/fixtures/data/cli.ts', 'simulate', '--out', out, '--n', '10'], { stdio: 'pipe' });
    } catch (e) {
      status = (e as { status: number }).status;
    }
    expect(status).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

describe('dense outputs that would not fit in memory', () => {
  it('codes and text refuse before allocating, naming the modality and what to change', async () => {
    const { codesBuilder } = await import('../src/data/modalities/codes.js');
    const { textBuilder } = await import('../src/data/modalities/text.js');
    const n = 200_001;
    const codes = codesBuilder({ type: 'codes', table: 't', code: 'c', window: { start: null, end: 0 }, min_count: 1, max_vocab: 5000, encoding: 'multihot' } as never);
    const raw = { present: new Uint8Array(n), pid: new Int32Array(0), code: [], count: new Float64Array(0) };
    const vocabulary = Array.from({ length: 1999 }, (_, k) => `c${k}`);
    expect(() => codes.apply(raw, { vocabulary, encoding: 'multihot' }, 'dx')).toThrow(/modalities\.dx: 200,001 patients × 2,000 codes is too large.*lower max_vocab/);
    expect(codes.apply({ ...raw, present: new Uint8Array(1000) }, { vocabulary, encoding: 'multihot' }, 'dx').values.length).toBe(2_000_000);
    const text = textBuilder({ type: 'text', table: 't', text: 'x', window: { start: null, end: 0 }, width: 4096, hash_seed: 0, min_df: 1 } as never);
    expect(() => text.apply({ present: new Uint8Array(n), docs: new Array(n).fill(null) }, { width: 4096, hashSeed: 0, idf: [] }, 'notes')).toThrow(/modalities\.notes: .*hash buckets.*lower width/);
  });
});

describe('a row with the wrong number of fields deep in a file', () => {
  it('is named by its line past the sniffer sample too (DuckDB gave up there without a line: a new user at line 3,000)', async () => {
    const labs = ['id,day,test,value'];
    for (let i = 0; i < 4000; i++) labs.push(`${(i % 40) + 1},${90 + (i % 9)},hb,${10 + (i % 5)}`);
    labs[2999] += ',extra'; // file line 3000
    const dir = smallDataset({ labs: labs.join('\n') + '\n' });
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/labs\.csv: line 3000 has 5 fields but the header has 4 \(delimiter ","\)/);
  });
});
