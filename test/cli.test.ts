// The real `cdmm` binary (bin/cdmm.js): every documented command is there, --json output parses, and user errors
// exit 2 with a message naming the file, without a stack trace.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cdmm = (...args: string[]) => cdmmWith({}, ...args);
function cdmmWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/cdmm.js', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('cdmm command', () => {
  it('lists every documented command', () => {
    const r = cdmm('--help');
    expect(r.code).toBe(0);
    for (const c of ['inspect', 'simulate', 'train', 'evaluate', 'benchmark', 'predict', 'serve', 'report', 'demo'])
      expect(r.out, c).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });
  it('the compiled build (dist/, when current) and the sources through tsx (CDMM_FROM_SOURCE=1) give the same commands', () => {
    const built = cdmm('train', '--help'), source = cdmmWith({ CDMM_FROM_SOURCE: '1' }, 'train', '--help');
    expect(source.code).toBe(0);
    expect(built.code).toBe(0);
    expect(built.out).toBe(source.out);
    expect(source.out).toMatch(/--backbone <name>/);
  });
  it('simulate --json prints where it wrote the spec, and the spec is there', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cdmm-cli-')), 'sim');
    const r = cdmm('simulate', '--out', out, '--n', '300', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ out, patients: 300 });
    expect(existsSync(j.spec)).toBe(true);
  });
  it('a missing spec file is a user error: exit 2, the file named, no stack trace', () => {
    const r = cdmm('inspect', '/nonexistent/spec.yaml', '--json');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^cdmm: error: .*\/nonexistent\/spec\.yaml/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });
  it('an unknown option exits non-zero with commander\'s message', () => {
    const r = cdmm('inspect', 'x.yaml', '--bogus');
    expect(r.code).toBe(2);
    expect(r.err).toBe("cdmm: error: unknown option '--bogus' (see --help)\n"); // one line, as cdmm's own errors
    // commander's suggestion for a near option stays on that one line
    expect(cdmm('train', 'x.yaml', '--out', 'never', '--epoch', '3').err).toBe("cdmm: error: unknown option '--epoch' (Did you mean --epochs?) (see --help)\n");
  });
});
