// Spec text never becomes SQL of its own (issue 8, docs/SECURITY.md "Dataset specs"): cohort filters are parsed
// and rewritten, every other field is quoted or checked, one statement runs per call, and DuckDB's file access is
// off once a spec's files are loaded. Each case asserts the exact outcome and that no file was written.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { Db, duckdbReason, sqlNum } from '../src/data/db.js';
import { compileFilter, filterSyntaxProblem, parseFilter } from '../src/data/filter.js';
import { parseSpec } from '../src/data/spec.js';
import { transformPatients } from '../src/data/transform.js';
import { CdmmError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'cdmm-sec-sql-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
process.env.CDMM_CACHE_DIR = join(root, 'cache');

/** 40 patients with every modality type; ids 1..40, age 40+i, sex F for odd i, y = 1 when i % 4 is 0 or 1. */
function fixture(): string {
  const dir = mkdtempSync(join(root, 'ds-'));
  const p = ['id,age,sex,y,index_day,split,risk'];
  const labs = ['id,day,test,value'];
  const wide = ['id,day,hb,na'];
  const dx = ['id,day,code'];
  const notes = ['id,day,text'];
  const emb = ['id,e0,e1'];
  for (let i = 1; i <= 40; i++) {
    const split = i % 10 === 0 ? 'val' : i % 5 === 0 ? 'test' : i % 7 === 0 ? 'val' : i % 3 === 0 ? 'test' : 'train';
    p.push(`${i},${40 + i},${i % 2 ? 'F' : 'M'},${i % 4 <= 1 ? 1 : 0},100,${split},${(i % 4) / 4}`);
    labs.push(`${i},90,hb,${10 + (i % 5)}`, `${i},99,hb,${11 + (i % 3)}`);
    wide.push(`${i},95,${10 + (i % 5)},${130 + (i % 7)}`);
    dx.push(`${i},80,LAB//x${i % 3}`, `${i},85,DX//d${i % 2}`);
    notes.push(`${i},98,patient ${i % 2 ? 'stable' : 'unwell'} today`);
    emb.push(`${i},${(i % 5) / 5},${(i % 3) / 3}`);
  }
  const files: Record<string, string[]> = { 'patients.csv': p, 'labs.csv': labs, 'wide.csv': wide, 'dx.csv': dx, 'notes.csv': notes, 'emb.csv': emb };
  for (const [f, rows] of Object.entries(files)) writeFileSync(join(dir, f), rows.join('\n') + '\n');
  return dir;
}

type AnySpec = Record<string, any>;
function baseSpec(): AnySpec {
  return {
    name: 'sec',
    tables: {
      patients: { file: 'patients.csv', id: 'id' },
      labs: { file: 'labs.csv', id: 'id', time: 'day' },
      wide: { file: 'wide.csv', id: 'id', time: 'day' },
      dx: { file: 'dx.csv', id: 'id', time: 'day' },
      notes: { file: 'notes.csv', id: 'id', time: 'day' },
      emb: { file: 'emb.csv', id: 'id' },
    },
    cohort: { table: 'patients', index_time: 'index_day' },
    label: { column: 'y' },
    modalities: {
      demo: { type: 'tabular', table: 'patients', numeric: ['age'], categorical: ['sex'] },
      labs: { type: 'timeseries', table: 'labs', variable: 'test', value: 'value', window: { start: -30, end: 0 }, bins: 2 },
      vitals: { type: 'timeseries', table: 'wide', columns: ['hb', 'na'], window: { start: -30, end: 0 }, bins: 1 },
      dx: { type: 'codes', table: 'dx', code: 'code', min_count: 1 },
      notes: { type: 'text', table: 'notes', text: 'text', width: 16 },
      emb: { type: 'embedding', table: 'emb', columns: ['e0', 'e1'] },
    },
    split: { method: 'random', seed: 1 },
  };
}

/** Writes the spec (as JSON, which is YAML) into a fresh copy of the fixture and builds it. */
async function build(edit: (s: AnySpec, dir: string) => void): Promise<{ dir: string; result: unknown; error?: Error }> {
  const dir = fixture();
  const spec = baseSpec();
  edit(spec, dir);
  writeFileSync(join(dir, 'spec.yaml'), JSON.stringify(spec, null, 1));
  try {
    return { dir, result: await prepareDataset(join(dir, 'spec.yaml'), { cache: false, quiet: true }) };
  } catch (e) {
    return { dir, result: undefined, error: e as Error };
  }
}

describe('cohort.filters: one expression in a small grammar', () => {
  const cases: [string, number][] = [
    ['age >= 60', 21],
    ["sex IN ('F') AND age BETWEEN 41 AND 60", 10],
    ["lower(sex) = 'f'", 20],
    ['"age" > 45 AND index_day IS NOT NULL', 35],
    ['age * 2 - 10 > 100', 25],
    ["sex NOT IN ('M') OR age > 76", 22],
    ["NOT sex LIKE 'M%'", 20],
    ["CAST(age AS VARCHAR) LIKE '5%'", 10],
    ['AGE >= 60', 21],
    ['-age < -70 AND abs(age - 75) <= 5', 10],
    ['coalesce(age, 0) % 2 = 0 AND NOT (age BETWEEN 50 AND 59)', 15],
  ];
  it.each(cases)('%s keeps %i of 40 patients', async (expr, kept) => {
    const { error, result } = await build((s) => (s.cohort.filters = [expr]));
    expect(error).toBeUndefined();
    const ds = result as Awaited<ReturnType<typeof prepareDataset>>;
    expect(ds.cohort.exclusions[`filter: ${expr}`]).toBe(40 - kept);
  });

  const rejected: [string, RegExp][] = [
    ["1=1); COPY (SELECT 1) TO 'x.csv'; --", /unexpected character ";" \(a filter is one expression, not statements\)/],
    ["length(read_text('/etc/shadow')) > 0", /function read_text\(\) is not allowed in a filter/],
    ['age > 0; DROP TABLE t_patients', /unexpected character ";"/],
    ['DROP TABLE t_patients', /unexpected 'TABLE'/],
    ['(SELECT count(*) FROM t_patients) > 0', /subqueries are not allowed/],
    ['age > 0 OR EXISTS (SELECT 1)', /function EXISTS\(\) is not allowed/],
    ['age > 0 -- and the rest', /comments are not allowed/],
    ['age > 0 /* x */', /comments are not allowed/],
    ["read_csv('/etc/passwd') IS NULL", /function read_csv\(\) is not allowed/],
    ["getenv('HOME') = ''", /function getenv\(\) is not allowed/],
    ['CAST(age AS BLOB) > 0', /CAST to 'BLOB' is not allowed/],
    ['"t_patients"."age" > 0', /unexpected character "\."/],
    ['$1 > 0', /unexpected character "\$"/],
    ['age > 0 AND', /unexpected the end of the filter|expected|unexpected/],
    ["age = 'unterminated", /unterminated string/],
  ];
  it.each(rejected)('%s is refused when the spec is read, naming the field', (expr, why) => {
    const text = JSON.stringify({ ...baseSpec(), cohort: { table: 'patients', index_time: 'index_day', filters: ['age > 0', expr] } });
    expect(() => parseSpec(text, 'spec.yaml')).toThrow(CdmmError);
    expect(() => parseSpec(text, 'spec.yaml')).toThrow(/^spec\.yaml: cohort\.filters\[1\]: invalid filter/);
    expect(() => parseSpec(text, 'spec.yaml')).toThrow(why);
  });

  it('a filter naming no cohort column is an error listing the columns; the CLI exits 2 and writes nothing', async () => {
    const { error } = await build((s) => (s.cohort.filters = ['agee > 3']));
    expect(error).toBeInstanceOf(CdmmError);
    expect(error!.message).toBe(`spec.yaml: cohort.filters[0]: invalid filter "agee > 3": no column 'agee' in the cohort table 'patients' (patients.csv) (did you mean 'age'?); columns: id, age, sex, y, index_day, split, risk`);
    const dir = fixture();
    writeFileSync(join(dir, 'spec.yaml'), JSON.stringify({ ...baseSpec(), cohort: { table: 'patients', index_time: 'index_day', filters: ["1=1); COPY (SELECT 1) TO 'x.csv'; --"] } }));
    const before = readdirSync(dir).sort();
    for (const cmd of [['inspect', join(dir, 'spec.yaml')], ['train', join(dir, 'spec.yaml'), '--out', join(root, 'never-run'), '--epochs', '1']]) {
      const r = await runCli(...cmd);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^cdmm: error: spec\.yaml: cohort\.filters\[0\]: invalid filter .*unexpected character ";"/);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(root, 'never-run'))).toBe(false);
    expect(existsSync(join(process.cwd(), 'x.csv'))).toBe(false);
  });

  it('the SQL comes from the parse tree: every column is qualified and quoted, strings re-quoted', () => {
    const where = { specFile: 's.yaml', table: 'p', label: 'p.csv' };
    expect(compileFilter(`Age >= 18 AND "odd ""name""" IN ('a''b', 2)`, 0, ['age', 'odd "name"'], 'x', where)).toBe(
      `((x."age" >= 18) AND (x."odd ""name""" IN ('a''b', 2)))`,
    );
    expect(parseFilter('NOT a IS NULL')).toEqual({ kind: 'unary', op: 'NOT', expr: { kind: 'is', expr: { kind: 'column', name: 'a', quoted: false, pos: 4 }, not: false, what: 'NULL' } });
  });

  it('deep nesting is a syntax error, not a stack overflow; a long filter is cut in the message', () => {
    const deep = (n: number, open: string, close = '') => `${open.repeat(n)}age > 1${close.repeat(n)}`;
    expect(parseFilter(deep(60, '(', ')'))).toBeTruthy();
    for (const f of [deep(100, '(', ')'), deep(200, 'NOT '), deep(500, '- '), deep(100, 'abs(', ')')])
      expect(filterSyntaxProblem(f)).toMatch(/^nested more than 64 levels deep \(at character \d+\)$/);
    const where = { specFile: 's.yaml', table: 'p', label: 'p.csv' };
    let msg = '';
    try { compileFilter(deep(100, '(', ')'), 0, ['age'], 'x', where); } catch (e) { msg = (e as Error).message; }
    expect(msg).toMatch(/^s\.yaml: cohort\.filters\[0\]: invalid filter "\({100}age > 1\){13}…": nested more than 64 levels deep/);
    expect(filterSyntaxProblem(deep(3000, '(', ')'))).toMatch(/^more than 5000 words and symbols/);
    expect(msg.length).toBeLessThan(400);
    // a flat chain is as deep for the SQL writer: refused by length and token count, not by a stack overflow
    const chain = (n: number) => Array.from({ length: n }, () => 'age > 1').join(' OR ');
    expect(compileFilter(chain(300), 0, ['age'], 'x', where)).toContain('x."age"');
    expect(filterSyntaxProblem(chain(1300))).toMatch(/^more than 5000 words and symbols \(at character \d+\)$/);
    expect(filterSyntaxProblem(chain(20_000))).toMatch(/^longer than 20000 characters/);
    expect(() => compileFilter(chain(20_000), 0, ['age'], 'x', where)).toThrow(/s\.yaml: cohort\.filters\[0\]: invalid filter .*longer than 20000 characters/);
  });
});

describe('every other place a spec reaches DuckDB is quoted or checked', () => {
  // Text that would end a quoted string or identifier and run a statement of its own, were it pasted into SQL.
  const pwned = (dir: string) => join(dir, 'pwned.csv');
  const s1 = (dir: string) => `x'); COPY (SELECT 1) TO '${pwned(dir)}'; --`;
  const s2 = (dir: string) => `x"); COPY (SELECT 1) TO '${pwned(dir)}'; --`;

  // [place, edit, expected outcome: 'builds' or the error]
  const places: [string, (s: AnySpec, dir: string) => void, 'builds' | RegExp][] = [
    ['table name', (s, d) => {
      const t = s2(d);
      s.tables[t] = s.tables.patients; delete s.tables.patients;
      s.cohort.table = t; s.modalities.demo.table = t;
    }, 'builds'],
    ["table file name with quotes in it", (s, d) => {
      const name = `p'"); DROP TABLE x; --.csv`;
      writeFileSync(join(d, name), 'id,age,sex,y,index_day\n' + Array.from({ length: 40 }, (_, k) => `${k + 1},${41 + k},F,${(k + 1) % 4 === 0 ? 1 : 0},100`).join('\n') + '\n');
      s.tables.patients.file = name;
    }, 'builds'],
    ['tables.NAME.id', (s, d) => (s.tables.labs.id = s2(d)), /tables\.labs\.id: column 'x"\); COPY .* not found in table 'labs'/],
    ['tables.NAME.time', (s, d) => (s.tables.labs.time = s2(d)), /tables\.labs\.time: column .* not found in table 'labs'/],
    ['tables.NAME.time_format', (s, d) => {
      writeFileSync(join(d, 'labs.csv'), 'id,day,test,value\n1,d90,hb,3\n');
      s.tables.labs.time_format = s1(d);
    }, /line 2, column 'day': time "d90" does not match time_format/],
    ['tables.NAME.na_values', (s, d) => (s.tables.patients.na_values = [s1(d), s2(d)]), 'builds'],
    ['tables.NAME.delimiter', (s) => (s.tables.labs.delimiter = "'"), /tables\.labs\.id: column 'id' not found|labs\.csv/],
    ['cohort.id', (s, d) => (s.cohort.id = s2(d)), /cohort\.id: column .* not found in table 'patients'/],
    ['cohort.index_time', (s, d) => (s.cohort.index_time = s2(d)), /cohort\.index_time: column .* not found/],
    ['label.column', (s, d) => (s.label = { column: s2(d) }), /label\.column: column .* not found/],
    ['label.event', (s, d) => (s.label = { event: s2(d), time: 'index_day', horizon: 5 }), /label\.event: column .* not found/],
    // (sex leaves the features: as the outcome event it would be refused as a leak before its values are read)
    ['label.event_values', (s, d) => { s.modalities.demo.categorical = []; s.label = { event: 'sex', event_values: [s1(d)], time: 'index_day', horizon: 5 }; }, /label\.event_values: none of .* occurs in column 'sex'/],
    ['label.time', (s, d) => (s.label = { event: 'y', time: s2(d), horizon: 5 }), /label\.time: column .* not found/],
    ['tabular numeric', (s, d) => (s.modalities.demo.numeric = [s2(d)]), /modalities\.demo\.numeric\[0\]: column .* not found/],
    ['tabular categorical', (s, d) => (s.modalities.demo.categorical = [s2(d)]), /modalities\.demo\.categorical\[0\]: column .* not found/],
    ['timeseries variable', (s, d) => (s.modalities.labs.variable = s2(d)), /modalities\.labs\.variable: column .* not found/],
    ['timeseries value', (s, d) => (s.modalities.labs.value = s2(d)), /modalities\.labs\.value: column .* not found/],
    ['timeseries variables', (s, d) => (s.modalities.labs.variables = ['hb', s1(d)]), 'builds'],
    ['timeseries prefix', (s, d) => (s.modalities.labs.prefix = s1(d)), 'builds'],
    ['timeseries columns (wide)', (s, d) => (s.modalities.vitals.columns = [s2(d)]), /modalities\.vitals\.columns\[0\]: column .* not found/],
    ['codes code', (s, d) => (s.modalities.dx.code = s2(d)), /modalities\.dx\.code: column .* not found/],
    ['codes prefix', (s, d) => (s.modalities.dx.prefix = s1(d)), 'builds'],
    ['text column', (s, d) => (s.modalities.notes.text = s2(d)), /modalities\.notes\.text: column .* not found/],
    ['embedding columns', (s, d) => (s.modalities.emb.columns = [s2(d)]), /modalities\.emb\.columns\[0\]: column .* not found/],
    ['embedding column_prefix', (s, d) => { delete s.modalities.emb.columns; s.modalities.emb.column_prefix = s1(d); }, /modalities\.emb\.column_prefix: no column of table 'emb' starts with/],
    ['split column', (s, d) => (s.split = { method: 'column', column: s2(d) }), /split\.column: column .* not found/],
    ['split values', (s, d) => (s.split = { method: 'column', column: 'split', values: { train: ['train'], val: ['val'], test: [s1(d)] } }), /split\.column 'split': no patient has split value for 'test'/],
    ['true_risk column', (s, d) => (s.true_risk = { table: 'patients', column: s2(d) }), /true_risk\.column: column .* not found/],
    ['modality name and dataset name', (s, d) => { s.name = s1(d); s.modalities[s2(d)] = s.modalities.emb; delete s.modalities.emb; }, 'builds'],
  ];
  it.each(places)('%s', async (_place, edit, expected) => {
    const { dir, error } = await build(edit);
    if (expected === 'builds') expect(error).toBeUndefined();
    else {
      expect(error).toBeInstanceOf(CdmmError);
      expect(error!.message).toMatch(expected);
    }
    // Were the text pasted into SQL, DuckDB would report a parser error, or run the COPY.
    expect(error?.message ?? '').not.toMatch(/Parser Error|syntax error/i);
    expect(existsSync(pwned(dir))).toBe(false);
  });

  it('a spec string holding NUL (which would cut SQL text short) is refused, naming the field', () => {
    const s = baseSpec();
    s.modalities.demo.numeric = ['age\u0000"); DROP TABLE x; --'];
    expect(() => parseSpec(JSON.stringify(s), 'spec.yaml')).toThrow('spec.yaml: modalities.demo.numeric[0]: text must not contain NUL characters');
  });

  it('a table named like cdmm\'s own tables (__cohort) is refused', () => {
    const s = baseSpec();
    s.tables.__cohort = s.tables.emb;
    expect(() => parseSpec(JSON.stringify(s), 'spec.yaml')).toThrow(/tables\.__cohort: a table name must not start with "__"/);
  });

  it('numbers in SQL must be numbers even in a spec nobody validated (a run folder\'s): windows, index time', async () => {
    expect(sqlNum(-30, 'f')).toBe('-30');
    expect(() => sqlNum('0) OR (1=1', 'modalities.labs.window.end')).toThrow('modalities.labs.window.end: expected a finite number, got "0) OR (1=1"');
    expect(() => sqlNum(Number.NaN, 'x')).toThrow(/expected a finite number/);
    // a spec's 1.8e308 reads as Infinity: named so, not as JSON's null
    expect(() => sqlNum(Number.POSITIVE_INFINITY, 'modalities.labs.window.end')).toThrow('modalities.labs.window.end: expected a finite number, got Infinity');
    const dir = fixture();
    const spec = baseSpec();
    writeFileSync(join(dir, 'spec.yaml'), JSON.stringify(spec));
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { cache: false, quiet: true });
    const tampered = parseSpec(JSON.stringify(spec), 'spec.yaml') as AnySpec;
    tampered.modalities.labs.window.end = `0 OR 1=1) UNION SELECT 1; COPY (SELECT 1) TO '${join(dir, 'pwned.csv')}'; --`;
    await expect(transformPatients(tampered as never, dir, ds.state, { records: [{ id: '1', index_time: 100, labs: [{ day: 95, test: 'hb', value: 3 }] }] }))
      .rejects.toThrow(/modalities\.labs\.window\.end: expected a finite number/);
    const t2 = parseSpec(JSON.stringify(spec), 'spec.yaml') as AnySpec;
    t2.cohort.index_time = 100;
    t2.cohort.index_offset = '1); DROP TABLE t_patients; --';
    await expect(transformPatients(t2 as never, dir, ds.state, { records: [{ id: '1', labs: [{ day: 95, test: 'hb', value: 3 }] }] }))
      .rejects.toThrow(/cohort\.index_offset: expected a finite number/);
    expect(existsSync(join(dir, 'pwned.csv'))).toBe(false);
  });
});

describe('DuckDB: one statement per call, no file access once the spec is loaded', () => {
  it('two statements in one call are refused; after lockDown files, extensions and settings are out of reach', async () => {
    const dir = fixture();
    const db = await Db.open('spec.yaml');
    try {
      await db.registerFile('patients', { file: 'patients.csv', id: 'id' }, dir);
      await expect(db.run('SELECT 1; SELECT 2')).rejects.toThrow(/Cannot prepare multiple statements/);
      await db.lockDown();
      expect(Number(await db.scalar('SELECT count(*) FROM t_patients'))).toBe(40);
      await expect(db.run(`COPY (SELECT 1) TO '${join(dir, 'pwned.csv')}'`)).rejects.toThrow(/file system operations are disabled by configuration/);
      await expect(db.rows(`SELECT * FROM read_text('/etc/hostname')`)).rejects.toThrow(/disabled by configuration/);
      await expect(db.rows(`SELECT * FROM read_csv('${join(dir, 'labs.csv')}')`)).rejects.toThrow(/disabled by configuration/);
      await expect(db.run(`ATTACH '${join(dir, 'other.duckdb')}'`)).rejects.toThrow(/disabled by configuration/);
      await expect(db.run('INSTALL httpfs')).rejects.toThrow(/disabled by configuration/);
      await expect(db.run('SET enable_external_access = true')).rejects.toThrow(/the configuration has been locked/);
      expect(existsSync(join(dir, 'pwned.csv'))).toBe(false);
      expect(existsSync(join(dir, 'other.duckdb'))).toBe(false);
    } finally {
      db.close();
    }
  });

  it("DuckDB's reason is kept in one line, without its option dump, fixes or our SQL", () => {
    const msg = [
      'Invalid Input Error: CSV Error on Line: 1', `Original Line: 60,${'9'.repeat(5000)}`,
      'Maximum line size of 2000000 bytes exceeded. Actual Size:5000006 bytes.', '',
      'Possible Solution: Change the maximum length size, e.g., max_line_size=5000008', '',
      '  file = /tmp/x.csv', '  delimiter = , (Auto-Detected)', '', "LINE 1: CREATE TABLE x AS SELECT * FROM read_csv('/tmp/x.csv')", '   ^',
    ].join('\n');
    const r = duckdbReason(new Error(msg));
    expect(r).toMatch(/^Invalid Input Error: CSV Error on Line: 1; original line: 60,9{57}… \(5003 characters\); Maximum line size of 2000000 bytes exceeded\. Actual Size:5000006 bytes\.$/);
  });
});

describe('a spec cannot make the cohort step slow or the output misleading', () => {
  const base = `name: x
tables: { p: { file: p.csv, id: id } }
cohort: { table: p, filters: FILTERS }
label: { column: y }
modalities: { c: { type: tabular, table: p, numeric: [a] } }
`;
  const spec = (filters: string[]) => base.replace('FILTERS', JSON.stringify(filters));
  it('at most 32 filters and 50,000 characters of them', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    expect(() => parseSpec(spec(Array.from({ length: 32 }, (_, i) => `a > ${i}`)), 's.yaml')).not.toThrow();
    expect(() => parseSpec(spec(Array.from({ length: 33 }, (_, i) => `a > ${i}`)), 's.yaml')).toThrow(/s\.yaml: cohort\.filters: at most 32 filters/);
    const big = `a IN (${Array.from({ length: 2400 }, (_, i) => i).join(',')})`;
    expect(() => parseSpec(spec([big, big, big, big, big]), 's.yaml')).toThrow(/cohort\.filters: at most 50000 characters of filters in all/);
  });
  it('a modality named __proto__ is an error, not silently dropped', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    expect(() => parseSpec(spec([]).replace('modalities: { c:', 'modalities: { __proto__: { type: tabular, table: p, numeric: [a] }, c:'), 's.yaml')).toThrow(/s\.yaml: modalities\.__proto__: "__proto__" cannot be a name here/);
  });

  it('a dataset name with terminal control characters is refused', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    expect(() => parseSpec(spec([]).replace('name: x', 'name: "\\e]0;pwned\\a\\e[31mred"'), 's.yaml')).toThrow(/s\.yaml: name: must not contain control or bidirectional-override characters/);
    // the reference score's name too (train, benchmark and evaluate print it)
    const ref = spec([]).replace('label: { column: y }', 'label: { column: y }\nreference: { table: p, column: r, name: "\\e]0;pwned\\a" }');
    expect(() => parseSpec(ref, 's.yaml')).toThrow(/s\.yaml: reference\.name: must not contain control or bidirectional-override characters/);
    expect(() => parseSpec(ref.replace('"\\e]0;pwned\\a"', 'APACHE IVa'), 's.yaml')).not.toThrow();
  });

  it('a column listed twice in one modality is refused (two features of one value)', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    expect(() => parseSpec(spec([]).replace('numeric: [a]', 'numeric: [a, a]'), 's.yaml')).toThrow(/s\.yaml: modalities\.c\.numeric: 'a' is listed twice/);
    expect(() => parseSpec(spec([]).replace('numeric: [a]', 'numeric: [a], categorical: [a]'), 's.yaml')).toThrow(/s\.yaml: modalities\.c\.categorical: 'a' is listed twice \(numeric and categorical together name each column once\)/);
    expect(() => parseSpec(spec([]).replace('{ type: tabular, table: p, numeric: [a] }', '{ type: embedding, table: p, columns: [e0, e1, e0] }'), 's.yaml')).toThrow(/modalities\.c\.columns: 'e0' is listed twice/);
  });

  it('modality and table names with control or bidi-override characters are refused before any work', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    for (const bad of ['"a\\u202eb"', '"a\\e[31mb"', '"a\\u2066b"']) {
      expect(() => parseSpec(spec([]).replace('modalities: { c:', `modalities: { ${bad}:`), 's.yaml')).toThrow(/s\.yaml: modalities.*must not contain control or bidirectional-override characters/);
    }
    expect(() => parseSpec(spec([]).replace('modalities: { c:', 'modalities: { "é-ok_1":'), 's.yaml')).not.toThrow();
  });
});
