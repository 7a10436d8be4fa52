// A key repeated in one JSON object (JSON.parse keeps the last silently) is found with its path, in request bodies
// (test/security-serve.test.ts) and in `predict --input` files, .json and .jsonl alike; and the input's size cap.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPatientInput } from '../src/serve/input.js';
import { repeatedKey } from '../src/util/json-keys.js';
import { readInputJsonText, readJsonText } from '../src/util/files.js';
import { tempDir } from './fixtures/data/helpers.js';

describe('repeatedKey', () => {
  it('names the first key an object repeats, by its path; strings, escapes and other objects do not confuse it', () => {
    expect(repeatedKey('{"a":1,"b":2}')).toBeUndefined();
    expect(repeatedKey('{"a":1,"a":2}')).toEqual(['a']);
    expect(repeatedKey('[{"id":"x","p":[{"v":1}],"id":"y"}]')).toEqual([0, 'id']);
    expect(repeatedKey('{"records":[{"id":1},{"id":2,"labs":[{"a":1},{"a":2,"b":{"c":1,"c":2}}]}]}')).toEqual(['records', 1, 'labs', 1, 'b', 'c']);
    expect(repeatedKey('{"\\u0069d":1,"id":2}')).toEqual(['id']);
    expect(repeatedKey('{"a":"x\\"y","b":["{","}",","],"c":{"a":1},"d":"\\\\"}')).toBeUndefined();
    expect(repeatedKey('{"a":"\\\\","a":1}')).toEqual(['a']);
    expect(repeatedKey('[1,2,{"k":[3,{"k":1}],"k":0}]')).toEqual([2, 'k']);
  });

  it('makes predict --input refuse such a file, naming the file, the line and the key', () => {
    const dir = tempDir();
    const spec = { tables: {} } as never;
    writeFileSync(join(dir, 'r.json'), '[{"id":"A","patients":{"age":80},"id":"B"}]');
    expect(() => readPatientInput(join(dir, 'r.json'), spec)).toThrow(/r\.json: \[0\]\.id: the key 'id' appears twice in one object/);
    writeFileSync(join(dir, 'r.jsonl'), '{"id":"A"}\n{"id":"B","patients":{"age":1,"age":2}}\n');
    expect(() => readPatientInput(join(dir, 'r.jsonl'), spec)).toThrow(/r\.jsonl: line 2: patients\.age: the key 'age' appears twice in one object/);
  });
});

describe('predict --input size limits', () => {
  it('caps a user input by the input limit, not by the run-file name it happens to share', () => {
    const dir = tempDir();
    const file = join(dir, 'history.json'); // a run folder's history.json is capped at 16 MiB; an input file is not one
    writeFileSync(file, '[{"id":"A"}]' + ' '.repeat(17 << 20));
    expect(() => readJsonText(file)).toThrow(/history\.json: \d+ bytes is more than such a file may hold \(16777216\)/);
    expect(JSON.parse(readInputJsonText(file))).toEqual([{ id: 'A' }]);
  });
});
