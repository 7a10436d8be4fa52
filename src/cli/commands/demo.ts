// cdmm demo: the README's main job. Trains the plain and the debiased transformer backbone on the bundled NAFLD
// cohort and on a simulated shift scenario, prints the comparison, writes one HTML report per dataset.
import type { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchmarkJson } from '../../train/benchmark.js';
import { defaultTrainOptions } from '../../train/options.js';
import { intArg, oneOf } from '../../train/cli-options.js';
import { CALIBRATION_METHODS } from '../../models/calibrator.js';
import { CdmmError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { checkOutDir, setAside } from '../../util/outdir.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface DemoFlags { out: string; seeds: number; epochs: number; n: number; calibration: string; json?: boolean; quiet?: boolean; overwrite?: boolean }

function say(msg: string): void { process.stderr.write(msg + '\n'); }

export function register(program: Command): void {
  program
    .command('demo')
    .description('Train plain vs debiased transformer fusion on bundled NAFLD data and a simulated shift scenario; print the comparison and write reports')
    .option('--out <dir>', 'output folder: a new or empty folder (or, with --overwrite, an earlier demo folder)', 'cdmm-demo')
    .option('--overwrite', 'replace --out when it is a folder cdmm demo wrote (anything else is never replaced)')
    .option('--seeds <n>', 'seeds per configuration', intArg('seeds'), 2)
    .option('--epochs <n>', 'maximum epochs per run (early stopping on validation AUPRC)', intArg('epochs'), 15)
    .option('--n <n>', 'patients in the simulated scenario', intArg('n'), 6000)
    .option('--calibration <method>', `calibration of the served risk, fitted on validation: ${CALIBRATION_METHODS.join(' | ')}`, defaultTrainOptions.calibration)
    .option('--json', 'print a JSON summary on stdout')
    .option('--quiet', 'no progress bars')
    .action(async (o: DemoFlags) => {
      if (o.seeds < 1 || o.epochs < 1 || o.n < 500) throw new CdmmError('demo: --seeds and --epochs must be ≥ 1 and --n ≥ 500');
      oneOf('calibration', CALIBRATION_METHODS, o.calibration);
      const t0 = Date.now();
      const out = resolve(o.out);
      const nafldSpec = join(repoRoot, 'datasets', 'nafld', 'nafld.yaml');
      if (!existsSync(nafldSpec)) throw new CdmmError(`demo: the bundled NAFLD spec is missing (${nafldSpec})`);
      const state = checkOutDir(o.out, 'demo', { overwrite: o.overwrite });
      const aside = state === 'replace' ? setAside(out) : undefined;
      try {
        await runDemo(o, out, nafldSpec, t0);
        aside?.commit();
      } catch (e) {
        aside?.rollback();
        throw e;
      }
    });
}

async function runDemo(o: DemoFlags, out: string, nafldSpec: string, t0: number): Promise<void> {
  // Loaded here, not at start-up: they pull in DuckDB, libtorch and Vega.
  const [{ prepareDataset }, { simulate }, { summarize, formatSummary }, { runBenchmark, formatBenchmark }, { writeReport }] = await Promise.all([
    import('../../data/build.js'), import('../../data/simulate.js'), import('../../data/summary.js'), import('../../train/benchmark.js'), import('../../report/index.js'),
  ]);
  mkdirSync(out, { recursive: true });
  // The marker that makes this a demo folder (replaceable with --overwrite), written before anything else.
  writeFileAtomic(join(out, 'demo.json'), JSON.stringify({ cdmm: 'demo', complete: false }) + '\n');
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const train = { ...defaultTrainOptions, epochs: o.epochs, patience: 4, bootstrap: 300, calibration: oneOf('calibration', CALIBRATION_METHODS, o.calibration) };
  const bench = (specPath: string, dir: string) =>
    runBenchmark({ specPath, backbones: ['transformer'], debias: ['none', 'full'], seeds, train, model: {}, out: dir, quiet: !!o.quiet });

  say(`cdmm demo → ${out}\n`);
  say('[1/4] NAFLD cohort (bundled; Olmsted County NAFLD study via the R survival package): death within 5 years of the index date');
  const nafld = await prepareDataset(nafldSpec, { quiet: !!o.quiet });
  say(formatSummary(summarize(nafld), nafld.modalities.map((m) => m.name)) + '\n');

  say(`[2/4] NAFLD: plain vs debiased transformer fusion, ${o.seeds} seed(s), ≤ ${o.epochs} epochs each`);
  const nafldBench = await bench(nafldSpec, join(out, 'nafld'));
  say(formatBenchmark(nafldBench) + '\n');

  say(`[3/4] Simulated shift scenario: ${o.n} patients, MNAR missingness and a confounder whose link to the outcome flips at test time`);
  const simDir = join(out, 'simulated-data');
  await simulate({ out: simDir, n: o.n, seed: 0 });
  const simBench = await bench(join(simDir, 'spec.yaml'), join(out, 'simulated'));
  say(formatBenchmark(simBench) + '\n');

  say('[4/4] Reports');
  const reports: string[] = [];
  for (const name of ['nafld', 'simulated']) {
    const r = await writeReport(join(out, name), join(out, `${name}-report.html`));
    reports.push(r.out);
  }
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const summary = { seconds: Math.round((Date.now() - t0) / 1000), reports, nafld: brief(nafldBench), simulated: brief(simBench) };
  writeFileAtomic(join(out, 'demo.json'), JSON.stringify({ cdmm: 'demo', complete: true, ...summary }, null, 2) + '\n');
  if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    process.stdout.write(`\n${headline('NAFLD', nafldBench)}\n${headline('Simulated', simBench)}\n`);
    process.stdout.write(`\nReports (open in a browser, no network needed):\n${reports.map((r) => '  ' + relative(process.cwd(), r)).join('\n')}\n`);
    process.stdout.write(`Run folders: ${relative(process.cwd(), out)}/{nafld,simulated}/runs/  (try: cdmm predict / cdmm serve on one)\nDone in ${minutes} min.\n`);
  }
}

function brief(b: BenchmarkJson) {
  return b.results.map((r) => ({ backbone: r.backbone, debias: r.debias, test: r.test, ...(r.shift ? { shift: r.shift } : {}) }));
}

function headline(name: string, b: BenchmarkJson): string {
  const get = (d: string) => b.results.find((r) => r.debias === d);
  const plain = get('none'), full = get('full');
  if (!plain || !full) return `${name}: incomplete`;
  const f = (x: number) => x.toFixed(3);
  const d = full.delta_vs_plain;
  const gain = (x: { auroc_mean: number; auroc_std: number } | undefined) => (x ? ` (paired Δ ${x.auroc_mean >= 0 ? '+' : ''}${f(x.auroc_mean)} ± ${f(x.auroc_std)})` : '');
  let s = `${name}: test AUROC plain ${f(plain.test.auroc_mean)} vs debiased ${f(full.test.auroc_mean)}${gain(d?.test)}`;
  if (plain.shift && full.shift) s += `;\n  shift-environment AUROC plain ${f(plain.shift.auroc_mean)} vs debiased ${f(full.shift.auroc_mean)}${gain(d?.shift)}`;
  return s;
}
