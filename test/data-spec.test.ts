// Spec parsing: defaults, the documented example, and field paths in errors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../src/data/spec.js';

describe('dataset spec', () => {
  it('the full example in docs/SPEC.md is a valid spec', () => {
    const doc = readFileSync('docs/SPEC.md', 'utf8');
    const yaml = doc.match(/```yaml\n([\s\S]*?)```/)![1];
    const spec = parseSpec(yaml, 'SPEC.md');
    expect(Object.keys(spec.modalities)).toEqual(['demographics', 'labs', 'history', 'notes', 'cxr']);
    expect(spec.modalities.history).toMatchObject({ type: 'codes', min_count: 20, window: { start: -730, end: 0 } });
  });

  it('fills defaults: window end at the index, random 70/10/20 split', () => {
    const s = parseSpec(
      `name: x
tables: { p: { file: p.csv, id: id }, e: { file: e.csv, id: id, time: t } }
cohort: { table: p }
label: { column: y }
modalities: { c: { type: codes, table: e, code: code } }
`,
      'x.yaml',
    );
    expect(s.cohort.index_time).toBe(0);
    expect(s.modalities.c).toMatchObject({ window: { start: null, end: 0 }, encoding: 'multihot' });
    expect(s.split).toEqual({ method: 'random', fractions: { train: 0.7, val: 0.1, test: 0.2 }, seed: 0 });
  });

  it('refuses the outcome, the stay end and the true risk as features, naming the field', () => {
    const spec = (label: string, demo: string, extra = '') => () => parseSpec(
      `name: x
tables: { stays: { file: s.csv, id: id }, out: { file: o.csv, id: id } }
cohort: { table: stays, end_time: discharge }
label: ${label}
${extra}modalities: { demo: { type: tabular, table: ${demo} } }
`,
      'x.yaml',
    );
    expect(spec('{ column: died }', 'stays, numeric: [age, died]')).toThrow(/x\.yaml: modalities\.demo\.numeric\[1\]: 'died' is the label column \(label\.column\) of table 'stays', known only after the prediction time/);
    expect(spec('{ column: died }', 'stays, categorical: [discharge]')).toThrow(/modalities\.demo\.categorical\[0\]: 'discharge' is the stay's end \(cohort\.end_time\)/);
    expect(spec('{ table: out, event: status, time: t, horizon: 30 }', 'out, numeric: [t]')).toThrow(/modalities\.demo\.numeric\[0\]: 't' is the outcome time \(label\.time\) of table 'out'/);
    expect(spec('{ column: died }', 'stays, numeric: [risk]', 'true_risk: { table: stays, column: risk }\n')).toThrow(/'risk' is the simulated true risk/);
    // The same name in another table is another column.
    expect(spec('{ table: out, column: died }', 'stays, numeric: [died]')).not.toThrow();
  });

  it('names inherited object properties (toString, constructor) as unknown, not as found', () => {
    const spec = (modality: string, split: string) => () => parseSpec(
      `name: x
tables: { p: { file: p.csv, id: id }, e: { file: e.csv, id: id, time: t } }
cohort: { table: p }
label: { column: y }
modalities: { c: ${modality} }
split: ${split}
`,
      'x.yaml',
    );
    expect(spec('{ type: codes, table: e, code: code }', '{ method: shift, modality: toString }')).toThrow(/x\.yaml: split\.modality: unknown modality 'toString'/);
    expect(spec('{ type: codes, table: constructor, code: code }', '{ method: random, seed: 0 }')).toThrow(/x\.yaml: modalities\.c\.table: unknown table 'constructor' \(tables: p, e\)/);
  });

  it('reserves the table name "records" (request bodies list patients under it)', () => {
    expect(() => parseSpec('name: x\ntables: { records: { file: r.csv, id: id } }\ncohort: { table: records }\nlabel: { column: y }\nmodalities: { d: { type: tabular, table: records, numeric: [a] } }\n', 'x.yaml'))
      .toThrow(/x\.yaml: tables\.records: the table name "records" is reserved/);
  });

  it('errors name the file and the field path', () => {
    const bad = (y: string) => () => parseSpec(y, 'bad.yaml');
    const base = `name: x
tables: { p: { file: p.csv, id: id }, e: { file: e.csv, id: id } }
cohort: { table: p }
label: { column: y }
`;
    expect(bad(base + 'modalities: { c: { type: codes, table: e, code: code } }')).toThrow(/bad\.yaml: tables\.e\.time: table 'e' is used by codes modality 'c' and needs a time column/);
    expect(bad(base + 'modalities: { c: { type: tabular, table: q, numeric: [a] } }')).toThrow(/bad\.yaml: modalities\.c\.table: unknown table 'q'/);
    expect(bad(base + 'modalities: { c: { type: tabular, table: p } }')).toThrow(/bad\.yaml: modalities\.c: a tabular modality needs numeric or categorical columns/);
    expect(bad(base + 'modalities: { c: { type: tabular, table: p, numeric: [a], colour: red } }')).toThrow(/bad\.yaml: modalities\.c: unknown field\(s\) colour/);
    expect(bad(base.replace('label: { column: y }', 'label: { event: s, time: t, horizon: -3 }') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/bad\.yaml: label\.horizon: horizon must be > 0/);
    expect(bad('name: [1')).toThrow(/bad\.yaml: YAML error/);
    // the parser's position, then the line itself (not a dangling "column 28:")
    expect(bad('name: x\nfilters: ["age > 18", "sex == "F""]\n')).toThrow(/bad\.yaml: YAML error: .* at line 2, column \d+; the line reads: "filters: \[\\"age > 18\\", \\"sex == \\"F\\"\\"\]"$/);
    // a typo gets the closest field or value, when one is close; a wild one gets none
    expect(bad(base + 'modalities: { c: { type: tabular, table: p, numerc: [a] } }')).toThrow(/bad\.yaml: modalities\.c: unknown field\(s\) numerc \(did you mean numeric\?\)$/); // its "needs numeric columns" follows from it
    expect(bad(base.replace('cohort: { table: p }', 'cohort: { table: p, index_tiem: 0 }') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/cohort: unknown field\(s\) index_tiem \(did you mean index_time\?\)/);
    expect(bad(base + 'modalities: { c: { type: tabulr, table: p, numeric: [a] } }')).toThrow(/modalities\.c\.type: unknown value "tabulr"; expected one of tabular, timeseries, codes, text, embedding \(did you mean tabular\?\)$/);
    expect(bad(base.replace('file: p.csv', 'file: p.csv, format: MEDS') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/format: unknown value "MEDS"; expected one of csv, parquet, meds \(did you mean meds\?\)$/);
    expect(bad(base + 'modalities: { c: { type: image, table: p, numeric: [a] } }')).toThrow(/modalities\.c\.type: unknown value "image"; expected one of tabular, timeseries, codes, text, embedding$/);
    // a misspelt required field leads with the typo, not with the "missing" line that the typo explains
    expect(bad(base + 'modalites: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/^bad\.yaml: \(root\): unknown field\(s\) modalites \(did you mean modalities\?\)$/);
    // what lies inside a misspelt field is not reported missing either (window.start of `windw`), nor twice a field
    const windw = (() => { try { bad(base + 'modalities: { c: { type: timeseries, table: p, variable: a, value: a, windw: { start: -3, end: 0 } } }')(); } catch (e) { return (e as Error).message; } return ''; })();
    expect(windw).toMatch(/^bad\.yaml: modalities\.c: unknown field\(s\) windw \(did you mean window\?\)$/m);
    expect(windw).not.toMatch(/window\.start/);
    expect(() => parseSpec(base.replace('label: { column: y }', 'label: { event: s, time: t, horizon: 30 dys }') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }', 'bad.yaml')).toThrow(/^bad\.yaml: label\.horizon: expected a number of days or a duration .*\(got "30 dys"\)$/);
    expect(bad(base + 'modalites: { c: { type: tabular, table: p, numeric: [a] } }\ncolour: 1')).toThrow(/^bad\.yaml: \(root\): unknown field\(s\) modalites \(did you mean modalities\?\), colour$/);
    // suggestions come from the fields of the object where the typo is, not from anywhere in the spec
    expect(bad(base.replace('id: id }, e:', 'id: id, types: 1 }, e:') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/tables\.p: unknown field\(s\) types$/);
    expect(bad(base.replace('id: id }, e:', 'id: id, tme: t }, e:') + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }')).toThrow(/tables\.p: unknown field\(s\) tme \(did you mean time\?\)$/);
    // one problem, one line
    let msg = '';
    try { parseSpec(base.replace('id: id } }', 'id: id, time: t } }') + 'modalities: { l: { type: timeseries, table: e, variable: v, value: x, window: { start: -3, end: "1 h" } } }', 'bad.yaml'); } catch (e) { msg = (e as Error).message; }
    expect(msg.split('\n')).toEqual(['bad.yaml: modalities.l.window.end: window end must be <= 0 (the index time) unless allow_after_index: true']);
    expect(bad(base.replace('id: id } }', 'id: id, time: t } }') + 'modalities: { l: { type: timeseries, table: e, variable: v, value: x, variables: [hb, na, hb], window: { start: -9 } } }')).toThrow(/bad\.yaml: modalities\.l\.variables\[2\]: 'hb' is listed twice/);
    expect(bad(base + 'modalities: { c: { type: tabular, table: p, numeric: [a] } }\nsplit: { method: random, fractions: { train: 0.5, val: 0.1, test: 0.1 } }')).toThrow(/bad\.yaml: split\.fractions: train, val and test fractions must be > 0 and sum to 1/);
  });
});
