// Input whose cost grows faster than its size (found by an attacker's pass): the answer must come in time linear in
// the input. Each case took seconds to hours before its fix; the bounds below are hundreds of times what the fixed
// code needs, so a slow machine does not fail them and the old code cannot pass them.
import { describe, expect, it } from 'vitest';
import { readNumber } from '../src/data/compiled/cells.js';
import { numberTextFor } from '../src/data/records.js';
import { durationSchema, parseSpec } from '../src/data/spec.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { closest } from '../src/util/closest.js';
import { parseYamlText } from '../src/util/yaml.js';

const timed = <T>(f: () => T): { ms: number; value: T } => {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
};

describe('input that used to cost quadratic time or memory', () => {
  it('a number cell of 200,000 digits and a letter is refused at once (the regex backtracked: 60,000 digits took 27 s)', () => {
    const cell = '1'.repeat(200_000) + 'x';
    const a = timed(() => numberTextFor('DOUBLE').test(cell));
    const b = timed(() => readNumber(cell, 'double'));
    expect(a.value).toBe(false);
    expect(typeof b.value).toBe('symbol'); // unreadable
    expect(a.ms + b.ms).toBeLessThan(1000);
    // the grammar is the same: decimals, exponents, blanks around
    for (const ok of ['12', ' -1.5e3 ', '.5', '5.', '+7']) expect([ok, numberTextFor('DOUBLE').test(ok)]).toEqual([ok, true]);
    for (const bad of ['1.2.3', '1e', 'e5', '--1']) expect([bad, numberTextFor('DOUBLE').test(bad)]).toEqual([bad, false]);
  });

  it('a duration of 200,000 digits and a letter is refused at once (40,000 took 6 s)', () => {
    const r = timed(() => durationSchema.safeParse('1'.repeat(200_000) + '!'));
    expect(r.value.success).toBe(false);
    expect(r.ms).toBeLessThan(1000);
    expect(durationSchema.parse('36 h')).toBe(1.5);
  });

  it('"did you mean" over names of 60,000 characters does not build their product (it ran out of memory)', () => {
    const r = timed(() => closest('a'.repeat(60_000) + 'b', ['a'.repeat(60_000) + 'c', 'age']));
    expect(r.value).toBeUndefined();
    expect(r.ms).toBeLessThan(1000);
    expect(closest('agee', ['age', 'sex'])).toBe('age');
  });

  it('a YAML file of 40,000 keys parses in linear time (the parser compared every key with every other: 20 s), repeated keys still refused', () => {
    const text = 'name: x\n' + Array.from({ length: 40_000 }, (_, i) => `k${i}: 1\n`).join('');
    const r = timed(() => parseYamlText(text, 'big.yaml'));
    expect(Object.keys(r.value as object).length).toBe(40_001);
    expect(r.ms).toBeLessThan(8000);
    expect(() => parseYamlText('a: 1\nx:\n  k: 1\n  k: 2\n', 'f.yaml')).toThrow(/f\.yaml: YAML error: map keys must be unique: "k" at line 4/);
    expect(() => parseYamlText('1: a\n"1": b\n', 'f.yaml')).toThrow(/map keys must be unique: "1" at line 2/);
    // a tag that makes a value other than JSON (an attacker's !!binary became a Buffer whose methods the error listed)
    expect(() => parseYamlText('name: x\nb: !!binary aGVsbG8=\n', 'f.yaml')).toThrow(/f\.yaml: YAML error: tag "!!binary" at line 2: cdmm reads plain text/);
    expect(parseYamlText('a: !!str 12\nb: !!int "3"\n', 'f.yaml')).toEqual({ a: '12', b: 3 });
  }, 30_000);

  it('an error about 50,000 unknown fields is a few lines, the misspelt one first (it listed them all: megabytes)', () => {
    const text = 'name: x\n' + Array.from({ length: 50_000 }, (_, i) => `k${i}: 1\n`).join('') + 'modalites: {}\n';
    let msg = '';
    try {
      parseSpec(text, 's.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^s\.yaml: \(root\): unknown field\(s\) modalites \(did you mean modalities\?\), k0, k1, .*… \(50001 in all\)/);
    expect(msg.length).toBeLessThan(2000);
  }, 30_000);

  it('a body of 60,000 bad rows is answered from its first issues (zod built them all: 7–16 s)', () => {
    const validate = makeRecordValidator({ labs: { id: 'VARCHAR', day: 'BIGINT', variable: 'VARCHAR', value: 'DOUBLE' } }, { labs: 'id' }, { maxRecords: 10 });
    const body = [{ id: 'a', labs: Array.from({ length: 60_000 }, () => ({ value: [] })) }];
    const r = timed(() => validate(body));
    expect(r.value.ok).toBe(false);
    if (r.value.ok) return;
    expect(r.value.issues.length).toBe(20);
    expect(r.value.issues[0].path).toBe('records[0].labs[0].value');
    expect(r.ms).toBeLessThan(3000);
    // a bad row past the first slice is named by its own index
    const late = [{ id: 'a', labs: [...Array.from({ length: 2500 }, (_, k) => ({ id: 'a', day: k, variable: 'crp', value: 1 })), { value: 'high' }] }];
    const rl = validate(late);
    expect(rl.ok).toBe(false);
    if (!rl.ok) expect(rl.issues.map((i) => i.path)).toEqual(['records[0].labs[2500].value']);
  });

  it('a body of 999 rows whose every cell is an object is answered from its first rows (one zod call built ~11,000 union issues: 1.4–2.7 s a request)', () => {
    const cols = ['id', 'index_day', 'age', 'sex', 'bmi', 'site', 'y', 'risk', 'split', 'days', 'c'];
    const types = Object.fromEntries(cols.map((c, k) => [c, k % 2 ? 'DOUBLE' : 'VARCHAR']));
    const validate = makeRecordValidator({ patients: types }, { patients: 'id' }, { maxRecords: 10 });
    const body = [{ id: 'a', patients: Array.from({ length: 999 }, () => Object.fromEntries(cols.map((c) => [c, {}]))) }];
    validate(body); // warm-up
    const r = timed(() => { for (let k = 0; k < 10; k++) validate(body); return validate(body); });
    expect(r.value.ok).toBe(false);
    if (!r.value.ok) expect(r.value.issues.length).toBe(20);
    // 11 requests; the unbounded call took 1.4 s each
    expect(r.ms).toBeLessThan(3000);
    // the slices still name a bad cell anywhere: one bad row after 700 good ones, past several doubled slices
    const late = [{ id: 'a', patients: [...Array.from({ length: 700 }, () => ({ index_day: 1 })), { index_day: 'old' }] }];
    const rl = validate(late);
    expect(rl.ok).toBe(false);
    if (!rl.ok) expect(rl.issues.map((i) => i.path)).toEqual(['records[0].patients[700].index_day']);
  });
});
