// --out checked again at the write: what appears at the output while a command runs is not replaced without
// --overwrite (or, with it, unless cdmm wrote it), and a symbolic link at --out is refused before any work.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDirAtomic } from '../src/util/atomic.js';
import { checkOutDir, checkOutFile, isCdmmReport, writeOutFile } from '../src/util/outdir.js';

const root = mkdtempSync(join(tmpdir(), 'cdmm-outdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const REPORT = '<!DOCTYPE html><title>cdmm report: x</title>';

describe('an output file written after a long command', () => {
  it('is not written over a file that appeared meanwhile (no --overwrite)', () => {
    const out = join(root, 'a.html');
    checkOutFile(out, 'report', isCdmmReport);
    writeFileSync(out, 'MY NOTES'); // another program, while the report was being built
    expect(() => writeOutFile(out, REPORT, 'report', isCdmmReport)).toThrow(/a\.html: a file appeared there while the command ran; not replaced \(pass --overwrite/);
    expect(readFileSync(out, 'utf8')).toBe('MY NOTES');
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('with --overwrite, replaces only what cdmm wrote, as it is at the write', () => {
    const out = join(root, 'b.html');
    writeFileSync(out, REPORT);
    checkOutFile(out, 'report', isCdmmReport, { overwrite: true });
    writeFileSync(out, 'MY NOTES');
    expect(() => writeOutFile(out, REPORT, 'report', isCdmmReport, { overwrite: true })).toThrow(/changed while the command ran and is no longer a report file written by cdmm/);
    expect(readFileSync(out, 'utf8')).toBe('MY NOTES');
    writeFileSync(out, REPORT);
    writeOutFile(out, REPORT + '<p>new', 'report', isCdmmReport, { overwrite: true });
    expect(readFileSync(out, 'utf8')).toBe(REPORT + '<p>new');
  });

  it('a new file is written', () => {
    const out = join(root, 'sub', 'c.html');
    checkOutFile(out, 'report', isCdmmReport);
    writeOutFile(out, REPORT, 'report', isCdmmReport);
    expect(readFileSync(out, 'utf8')).toBe(REPORT);
  });
});

describe('a symbolic link at --out', () => {
  it('is refused for a file and a folder, dangling or not, and left as it is', () => {
    const target = join(root, 'target');
    mkdirSync(target);
    const links = { toFolder: target, dangling: join(root, 'nowhere', 'x') };
    for (const [name, to] of Object.entries(links)) {
      const link = join(root, name);
      symlinkSync(to, link);
      expect(() => checkOutDir(link, 'run')).toThrow(new RegExp(`--out .*${name}: is a symbolic link; give the path of the folder for the run folder itself \\(nothing was changed\\)`));
      expect(() => checkOutFile(link, 'report', isCdmmReport, { overwrite: true })).toThrow(/is a symbolic link; give the path of the report file itself/);
    }
    expect(existsSync(target)).toBe(true);
  });
});

describe('a folder written at the end of a long command', () => {
  it('without --overwrite, does not replace a folder filled meanwhile: the new one is kept beside it', async () => {
    const out = join(root, 'run');
    expect(checkOutDir(out, 'run')).toBe('new');
    // Another cdmm command writes the same --out while this one trains.
    mkdirSync(out);
    writeFileSync(join(out, 'manifest.json'), '{"format":"cdmm-model/4"}');
    await expect(writeDirAtomic(out, (tmp) => writeFileSync(join(tmp, 'manifest.json'), '{}'), { mayReplace: false }))
      .rejects.toThrow(/run: not replaced: it was filled while this command ran \(another cdmm command\?\) and --overwrite was not given; the new folder is at .*run\.new-/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe('{"format":"cdmm-model/4"}');
    // An empty folder, as at the check, is filled.
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await writeDirAtomic(empty, (tmp) => writeFileSync(join(tmp, 'x'), '1'), { mayReplace: false });
    expect(readFileSync(join(empty, 'x'), 'utf8')).toBe('1');
  });
});
