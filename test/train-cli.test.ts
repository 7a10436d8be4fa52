import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as cli } from './helpers/cli.js';
import { simulate } from '../src/data/simulate.js';

let root: string;
let spec: string;


const tiny = ['--epochs', '2', '--dim', '16', '--branch-dim', '8', '--bootstrap', '50', '--quiet'];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-train-cli-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  await simulate({ out: join(root, 'sim'), n: 900, seed: 3 });
  spec = join(root, 'sim', 'spec.yaml');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cdmm train / evaluate', () => {
  it('trains a run folder, prints metrics JSON, and evaluate reproduces the test metrics', async () => {
    const run = join(root, 'run');
    const t = await cli('train', spec, '--backbone', 'early', '--debias', 'full', '--seed', '1', '--out', run, '--json', ...tiny);
    expect(t.err).toMatch(/^(cdmm: note: [^\n]*\n)*$/); // the debiasing parts' decisions, nothing else
    // 900 patients: a validation split of 90 with about a dozen positives is little to calibrate on, and train says so
    expect(t.err).toMatch(/cdmm: note: calibration \(platt\) was fitted on \d+ validation patients, \d+ of them positive: with fewer than 30 of a class/);
    expect(t.code).toBe(0);
    const metrics = JSON.parse(t.out);
    expect(metrics).toMatchObject({ dataset: 'simulated', backbone: 'early', debias: 'full', seed: 1 });
    expect(Object.keys(metrics.splits).sort()).toEqual(['shift', 'test', 'val']);
    for (const f of ['manifest.json', 'model.safetensors', 'metrics.json', 'insights.json', 'predictions.json', 'history.json'])
      expect(existsSync(join(run, f)), f).toBe(true);
    // --json: metrics.json, with the run folder and the notes printed on stderr
    const { run: written, notes, ...inFile } = metrics;
    expect(JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'))).toEqual(inFile);
    expect(written).toBe(resolve(run));
    expect(notes.map((n: string) => `cdmm: note: ${n}\n`).join('')).toBe(t.err);
    // inspect reports the deconfounder's gate as train decided it (the AUROC does not depend on the seed; the bootstrap bound does).
    const rec = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).config.debias_parts.deconfound;
    const ins = await cli('inspect', spec, '--json');
    expect(ins.code).toBe(0);
    const dec = JSON.parse(ins.out).deconfounder;
    expect(dec.patterns).toBe(rec.patterns);
    expect(dec.pattern_auroc).toBeCloseTo(rec.pattern_auroc, 5);
    expect(dec.acts).toBe(dec.pattern_auroc_lower > dec.needed);
    expect((await cli('inspect', spec)).out).toMatch(/^deconfounder \(--debias full with the default --pattern-gate auto\): (on|off): over the \d+ patterns/m);

    const ev = await cli('evaluate', run, '--json', '--bootstrap', '50');
    expect(ev.code).toBe(0);
    const r = JSON.parse(ev.out);
    expect(r.source).toBe('run-splits');
    expect(r.splits.test.auroc).toBe(metrics.splits.test.auroc);
    expect(r.splits.shift.auprc).toBe(metrics.splits.shift.auprc);

    // External validation on another simulated cohort: same spec layout, other patients.
    // (scenario none: no shift environment whose reversed shortcut would pull a 2-epoch model's AUROC under 0.5; its
    // ids are the training cohort's, p0001…, its patients others: no overlap warning)
    await simulate({ out: join(root, 'sim2'), n: 300, seed: 11, scenario: 'none' });
    const ext = await cli('evaluate', run, '--spec', join(root, 'sim2', 'spec.yaml'), '--json', '--bootstrap', '20');
    expect(ext.code).toBe(0);
    const x = JSON.parse(ext.out);
    expect(x.source).toBe('external');
    expect(x.splits.external.n).toBe(300);
    expect(x.splits.external.auroc).toBeGreaterThan(0.5);
    expect(x.warnings).toBeUndefined();
    expect(ext.err).not.toMatch(/warning/);
    // another outcome or prediction time: scored, with a warning that it is another task
    const otherTask = join(root, 'sim2', 'later.yaml');
    writeFileSync(otherTask, readFileSync(join(root, 'sim2', 'spec.yaml'), 'utf8').replace('  index_time: index_day\n', '  index_time: index_day\n  index_offset: 30\n').replace('  column: y\n', '  column: y\n  positive: [1]\n'));
    const later = await cli('evaluate', run, '--spec', otherTask, '--json', '--bootstrap', '20');
    expect(later.code, later.err).toBe(0);
    expect(JSON.parse(later.out).warnings).toEqual([expect.stringMatching(/later\.yaml: label\.positive: \[1\] here, null in the run's spec; cohort\.index_offset: 30 here, 0 in the run's spec \(another prediction time\): these figures score another task than the one the model was trained for/)]);
    // another hospital's site codes: its patients fall into '<other>', and evaluate says how many
    const siteDir = join(root, 'sim2-sites');
    cpSync(join(root, 'sim2'), siteDir, { recursive: true });
    const lines = readFileSync(join(siteDir, 'patients.csv'), 'utf8').split('\n');
    const siteAt = lines[0].split(',').indexOf('site');
    writeFileSync(join(siteDir, 'patients.csv'), lines.map((l, i) => (i === 0 || !l ? l : l.split(',').map((c, j) => (j === siteAt && i % 2 ? 'ZZ' : c)).join(','))).join('\n'));
    const sites = await cli('evaluate', run, '--spec', join(siteDir, 'spec.yaml'), '--json', '--bootstrap', '20');
    expect(sites.code).toBe(0);
    expect(JSON.parse(sites.out).warnings).toEqual([expect.stringMatching(/spec\.yaml: modality 'demographics': 150 of 300 patients \(50\.0%\) have a 'site' value never seen in training; they are scored as '<other>'/)]);
    // the training spec itself as "external": scored, with a warning that these are the training patients
    const self = await cli('evaluate', run, '--spec', spec, '--json', '--bootstrap', '20');
    expect(self.code).toBe(0);
    expect(JSON.parse(self.out).warnings).toHaveLength(1);
    expect(self.err).toMatch(/cdmm: warning: .*spec\.yaml: (\d+) of its 900 patients are, by id, label, missing modalities and features, training or validation patients of the run, so these figures are not an external validation/);
    expect(self.err.match(/cdmm: warning/g)).toHaveLength(1);
    const counted = Number(/(\d+) of its 900 patients/.exec(self.err)![1]);
    // training and validation: every patient not in the run's test or shift split
    expect(counted).toBe(900 - metrics.splits.test.n - metrics.splits.shift.n);
    // the same cohort file at another prediction time: other features, the same patients, found by id
    const earlier = join(root, 'sim', 'earlier.yaml');
    writeFileSync(earlier, readFileSync(spec, 'utf8').replace(/^(  index_time: index_day)$/m, '$1\n  index_offset: -30'));
    const at = await cli('evaluate', run, '--spec', earlier, '--json', '--bootstrap', '20');
    expect(at.code, at.err).toBe(0);
    expect(at.err).toMatch(new RegExp(`earlier\\.yaml: ${counted} of its 900 patients are training or validation patients of the run \\(its cohort table is the file the run was trained on`));
    // a renamed copy of the cohort file is found the same way (the check is by id, not by file)
    const copyDir = join(root, 'sim-copy');
    cpSync(join(root, 'sim'), copyDir, { recursive: true, filter: (f) => !f.includes('.cdmm-cache') });
    renameSync(join(copyDir, 'patients.csv'), join(copyDir, 'cohort-export.csv'));
    writeFileSync(join(copyDir, 'spec.yaml'), readFileSync(join(copyDir, 'spec.yaml'), 'utf8').replace(/file: patients\.csv/, 'file: cohort-export.csv'));
    const copied = await cli('evaluate', run, '--spec', join(copyDir, 'spec.yaml'), '--json', '--bootstrap', '20');
    expect(copied.code, copied.err).toBe(0);
    expect(copied.err).toMatch(new RegExp(`${counted} of its 900 patients are, by id, label, missing modalities and features, training or validation patients`));
    // the same file, filtered to patients the run held out (its shift split): no training patient, so no warning
    const heldOut = join(root, 'sim', 'held-out.yaml');
    writeFileSync(heldOut, readFileSync(spec, 'utf8').replace(/^cohort:\n/m, "cohort:\n  filters: [\"split = 'shift'\"]\n"));
    const ho = await cli('evaluate', run, '--spec', heldOut, '--json', '--bootstrap', '20');
    expect(ho.code, ho.err).toBe(0);
    expect(JSON.parse(ho.out).splits.external.n).toBe(metrics.splits.shift.n);
    expect(JSON.parse(ho.out).warnings).toBeUndefined();
    expect(ho.err).not.toMatch(/warning/);

    const human = await cli('evaluate', run, '--bootstrap', '20');
    expect(human.out).toMatch(/test\s+n=\d+\s+AUROC 0\.\d{3}/);

    // spec_path is the run folder's word: a file that is not the run's spec is refused, its content not quoted
    const { editManifest } = await import('./helpers/run-folder.js');
    const other = join(root, 'run-other-spec');
    cpSync(run, other, { recursive: true });
    const secret = join(root, 'secrets.yaml');
    writeFileSync(secret, 'db_password: hunter2\napi_key: abc\n');
    editManifest(other, (m) => (m.spec_path = secret));
    const bad = await cli('evaluate', other, '--bootstrap', '20');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/secrets\.yaml: is not the spec this run was trained with/);
    expect(bad.err).not.toMatch(/db_password|api_key|hunter2/);

    // a run built by an older data code whose preprocessing is the same evaluates; one whose preprocessing differs
    // is told apart from a changed spec
    const older = join(root, 'run-older-data');
    cpSync(run, older, { recursive: true });
    editManifest(older, (m) => (m.state.version = 'cdmm-data/1'));
    const same = await cli('evaluate', older, '--json', '--bootstrap', '20');
    expect(same.code, same.err).toBe(0);
    const current = await cli('evaluate', run, '--json', '--bootstrap', '20');
    expect(JSON.parse(same.out).splits.test.auroc).toBe(JSON.parse(current.out).splits.test.auroc);
    editManifest(older, (m) => (m.state.modalities[0].state.numeric[0].mean += 1));
    const differs = await cli('evaluate', older, '--bootstrap', '20');
    expect(differs.code).toBe(2);
    expect(differs.err).toMatch(/the run was built by cdmm's data code "cdmm-data\/1" and this cdmm builds "cdmm-data\/\d+", whose dataset differs/);
  });

  it('the same seed gives the same weights and metrics bit for bit, across separate commands', async () => {
    const a = join(root, 'same-a');
    const b = join(root, 'same-b');
    const args = ['--backbone', 'late', '--debias', 'dual', '--seed', '5', ...tiny];
    expect((await cli('train', spec, '--out', a, ...args)).code).toBe(0);
    expect((await cli('train', spec, '--out', b, ...args)).code).toBe(0);
    expect(readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(b, 'model.safetensors')))).toBe(true);
    expect(readFileSync(join(a, 'metrics.json'), 'utf8')).toBe(readFileSync(join(b, 'metrics.json'), 'utf8'));
    expect(readFileSync(join(a, 'predictions.json'), 'utf8')).toBe(readFileSync(join(b, 'predictions.json'), 'utf8'));
  });

  it("says that deconfounding has nothing to adjust when the training split has one missingness pattern", async () => {
    // The simulator's demographics alone: always observed, so the dictionary holds one pattern.
    const one = join(root, 'one-pattern');
    mkdirSync(one);
    const full = readFileSync(spec, 'utf8');
    const tablesAt = full.indexOf('tables:'), modsAt = full.indexOf('modalities:'), demoEnd = full.indexOf('\n  labs:', modsAt);
    expect(tablesAt >= 0 && modsAt > tablesAt && demoEnd > modsAt).toBe(true);
    const afterMods = full.slice(full.indexOf('\nsplit:'));
    writeFileSync(join(one, 'spec.yaml'), full.slice(0, modsAt) + full.slice(modsAt, demoEnd) + afterMods);
    copyFileSync(join(root, 'sim', 'patients.csv'), join(one, 'patients.csv'));
    for (const f of ['labs.csv', 'diagnoses.csv', 'notes.csv', 'imaging.csv']) copyFileSync(join(root, 'sim', f), join(one, f));
    const t = await cli('train', join(one, 'spec.yaml'), '--backbone', 'early', '--debias', 'deconfound', '--out', join(root, 'run-one'), ...tiny);
    expect(t.code).toBe(0);
    expect(t.err).toMatch(/cdmm: note: deconfounding has nothing to adjust: the training split has one missingness pattern \(1\) after merging rare ones \(a pattern needs 20 training patients to stay its own\)/);
    expect(JSON.parse((await cli('inspect', join(one, 'spec.yaml'), '--json')).out).deconfounder).toEqual({ acts: false, patterns: 1, reason: 'one pattern' });
  });

  it('reports bad options and damaged runs as errors, not crashes', async () => {
    const bad = await cli('train', spec, '--backbone', 'resnet', '--out', join(root, 'x'), ...tiny);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--backbone resnet: expected one of lr, early, late, transformer, m3care, muse/);
    const cal = await cli('train', spec, '--calibration', 'spline', '--out', join(root, 'x'), ...tiny);
    expect(cal.code).toBe(2);
    expect(cal.err).toMatch(/--calibration spline: expected one of platt, temperature, isotonic, none/);
    // An integer option says "integer" for text and for fractions alike.
    for (const v of ['abc', '1.5', ' ']) {
      const ep = await cli('train', spec, '--out', join(root, 'x'), ...tiny, '--epochs', v);
      expect(ep.code, v).toBe(2);
      expect(ep.err).toMatch(new RegExp(`--epochs: expected an integer, got ${JSON.stringify(v).replace(/[.]/g, '\\.')}`));
    }
    // Typos of a size no machine runs are refused at once (they had run for minutes or exhausted the memory).
    const threads = await cli('train', spec, '--out', join(root, 'x'), ...tiny, '--threads', '1000');
    expect(threads.code).toBe(2);
    expect(threads.err).toMatch(/--threads 1000: expected at most 256/);
    const seeds = await cli('benchmark', spec, '--backbones', 'lr', '--debias', 'none', '--seeds', '100000000', '--out', join(root, 'bx'));
    expect(seeds.code).toBe(2);
    expect(seeds.err).toMatch(/--seeds 100000000: expected at most 1000 seeds/);
    expect(existsSync(join(root, 'x')) || existsSync(join(root, 'bx'))).toBe(false);
    const missing = await cli('evaluate', join(root, 'no-such-run'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no-such-run: run folder not found/);
  });

  it('--calibration isotonic and none: the manifest records the map, the summary prints it, none serves the model\'s own p', async () => {
    const iso = join(root, 'iso');
    const t = await cli('train', spec, '--backbone', 'early', '--debias', 'none', '--calibration', 'isotonic', '--out', iso, ...tiny);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/calibration of the served risk \(fitted on validation\): isotonic \(\d+ points\)/);
    expect(t.out).toMatch(/test\s+n=\d+ .*ECE 0\.\d{4} \(uncalibrated 0\.\d{4}\)/);
    const m = JSON.parse(readFileSync(join(iso, 'manifest.json'), 'utf8'));
    expect(m.calibration.method).toBe('isotonic');
    expect(m.config.train.calibration).toBe('isotonic');
    const none = join(root, 'none');
    expect((await cli('train', spec, '--backbone', 'early', '--debias', 'none', '--calibration', 'none', '--out', none, ...tiny)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(none, 'manifest.json'), 'utf8')).calibration).toEqual({ method: 'none' });
    const p = JSON.parse(readFileSync(join(none, 'predictions.json'), 'utf8')).test;
    expect(p.p).toEqual(p.p_raw);
    const metrics = JSON.parse(readFileSync(join(none, 'metrics.json'), 'utf8'));
    expect(metrics.splits.test.ece).toBeCloseTo(metrics.splits.test.ece_raw, 12);
  });
});
