// The reference score (spec.reference): metrics on the patients that have it, next to the model's on the same
// patients, hand-checked on small arrays; then through train and benchmark on a fixture whose reference is the
// label itself (AUROC 1 only if every score is matched to its own patient).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceMetrics, summarizeReference } from '../src/eval/reference.js';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFixture } from './fixtures/data/helpers.js';

describe('referenceMetrics', () => {
  it('scores the reference and the model on the patients with a reference score only', () => {
    const y = [1, 0, 1, 0, 0, 1, 0];
    const ref = [0.9, 0.1, NaN, 0.4, 0.6, 0.7, NaN];
    const p = [0.2, 0.3, 0.99, 0.1, 0.5, 0.8, 0.0];
    const r = referenceMetrics('APACHE', y, ref, p, 0)!;
    expect(r.n).toBe(7);
    expect(r.covered).toBe(5);
    // Covered: positives ref 0.9, 0.7; negatives 0.1, 0.4, 0.6 → every positive above every negative: AUROC 1.
    expect(r.reference.auroc).toBeCloseTo(1, 12);
    // Model on the same five: positives 0.2, 0.8; negatives 0.3, 0.1, 0.5 → 0.2 beats 1 of 3, 0.8 beats 3: 4/6.
    expect(r.model.auroc).toBeCloseTo(4 / 6, 12);
    // AUPRC of the model: ranking 0.8(+) 0.5 0.3 0.2(+) 0.1 → precision at the positives 1 and 2/4: (1 + 0.5)/2.
    expect(r.model.auprc).toBeCloseTo(0.75, 12);
    expect(r.probability).toBe(true);
    expect(r.reference.ece).not.toBeNull();
    expect(r.delong!.diff).toBeCloseTo(4 / 6 - 1, 12);
  });

  it('ranks a score that is not a probability: same AUROC, no calibration', () => {
    const y = [1, 0, 1, 0, 0];
    const points = [120, 15, 80, 40, 90]; // APACHE-like points
    const r = referenceMetrics('points', y, points, [0.5, 0.5, 0.5, 0.5, 0.5], 0)!;
    expect(r.probability).toBe(false);
    // positives 120, 80; negatives 15, 40, 90: 120 beats 3, 80 beats 2 → 5/6.
    expect(r.reference.auroc).toBeCloseTo(5 / 6, 12);
    expect(r.reference.ece).toBeNull();
    expect(r.reference.brier).toBeNull();
  });

  it('is undefined when no patient has a score, and summarises seeds as mean ± std', () => {
    expect(referenceMetrics('x', [1, 0], [NaN, NaN], [0.1, 0.2])).toBeUndefined();
    const a = referenceMetrics('x', [1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], [0.9, 0.1, 0.05, 0.8], 0)!; // ref 1, model 2/4
    const b = referenceMetrics('x', [1, 0, 1, 0], [0.9, 0.95, 0.8, 0.2], [0.9, 0.1, 0.8, 0.2], 0)!; // ref 2/4, model 1
    const s = summarizeReference([a, b])!;
    expect(s.auroc_mean).toBeCloseTo(0.75, 12);
    expect(s.auroc_std).toBeCloseTo(Math.SQRT1_2 * 0.5, 12);
    expect(s.model_auroc_mean).toBeCloseTo(0.75, 12);
    expect(s.delta_auroc_mean).toBeCloseTo(0, 12);
    expect(s.delta_auroc_std).toBeCloseTo(Math.SQRT2 * 0.5, 12);
    expect(s.coverage_mean).toBe(1);
  });
});

describe('the reference through train and benchmark', () => {
  // 60 stays; the reference is 0.9 for deaths and 0.1 for survivors, missing (-1) for every fifth stay; a second
  // version row (IV) per stay holds 0.5 and is dropped by `where`.
  function fixture(): string {
    const stays = ['stay,age,y'];
    const scores = ['stay,version,pred'];
    for (let i = 1; i <= 60; i++) {
      const y = i % 4 === 0 ? 1 : 0;
      stays.push(`${i},${40 + (i % 30)},${y}`);
      scores.push(`${i},IV,0.5`, `${i},IVa,${i % 5 === 0 ? -1 : y ? 0.9 : 0.1}`);
    }
    return writeFixture({
      'stays.csv': stays.join('\n') + '\n',
      'scores.csv': scores.join('\n') + '\n',
      'spec.yaml': `name: ref
tables:
  stays: { file: stays.csv, id: stay }
  scores: { file: scores.csv, id: stay, where: { version: IVa } }
cohort: { table: stays }
label: { column: y }
reference: { table: scores, column: pred, missing: [-1], name: Oracle }
modalities:
  demo: { type: tabular, table: stays, numeric: [age] }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0 }
`,
    });
  }

  it('writes it to metrics.json for the test split and to every row of the benchmark', async () => {
    const dir = fixture();
    const out = join(tempDir(), 'bench');
    const { code, out: stdout } = await runCli('benchmark', join(dir, 'spec.yaml'), '--backbones', 'early', '--debias', 'none', '--seeds', '2',
      '--epochs', '1', '--dim', '8', '--branch-dim', '4', '--bootstrap', '0', '--out', out, '--quiet');
    expect(code).toBe(0);
    for (const s of [0, 1]) {
      const m = JSON.parse(readFileSync(join(out, `runs/early-none-s${s}/metrics.json`), 'utf8'));
      const preds = JSON.parse(readFileSync(join(out, `runs/early-none-s${s}/predictions.json`), 'utf8'));
      const test = m.reference.test;
      // Covered = the test stays whose id is not a multiple of 5.
      expect(test.n).toBe(preds.test.ids.length);
      expect(test.covered).toBe(preds.test.ids.filter((id: string) => Number(id) % 5 !== 0).length);
      expect(test.reference.auroc).toBeCloseTo(1, 12);
      // ECE of 0.9/0.1 scores on 0/1 outcomes: every patient is 0.1 from its outcome.
      expect(test.reference.ece).toBeCloseTo(0.1, 6);
      expect(m.reference.val).toBeUndefined();
    }
    const b = JSON.parse(readFileSync(join(out, 'benchmark.json'), 'utf8'));
    expect(b.results[0].test.reference).toMatchObject({ name: 'Oracle', auroc_mean: 1, auroc_std: 0 });
    expect(b.results[0].test.reference.ece_mean).toBeCloseTo(0.1, 6);
    expect(stdout).toMatch(/Oracle \(reference\)\s+1\.000 ± 0\.000/);
    expect(existsSync(join(out, 'runs/early-none-s1/model.safetensors'))).toBe(true);
    const ev = await runCli('evaluate', join(out, 'runs/early-none-s0'), '--json', '--bootstrap', '0');
    expect(ev.code).toBe(0);
    expect(JSON.parse(ev.out).reference.test.reference.auroc).toBeCloseTo(1, 12);
  });
});
