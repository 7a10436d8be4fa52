// cdmm evaluate RUN [--spec OTHER]: scores a saved run on its test (and shift) split, or on another spec's
// patients with the run's fitted preprocessing (external validation).
import type { Command } from 'commander';
import { intArg } from '../../train/cli-options.js';
import { printable, say } from '../../util/say.js';

export function register(program: Command): void {
  program
    .command('evaluate')
    .description("Score a run folder on its test split (and shift environment), or on another spec's patients (external validation)")
    .argument('<run>', 'run folder written by cdmm train')
    .option('--spec <spec>', "another dataset spec: score its patients with the run's preprocessing and pattern dictionary")
    .option('--bootstrap <n>', 'bootstrap resamples for metric intervals', intArg('bootstrap'), 1000)
    .option('--json', 'print the result as JSON')
    .option('--no-cache', 'rebuild the dataset even when a cached build exists')
    .option('--allow-outside', "read table files outside the spec's folder")
    .action(async (runDir: string, o: { spec?: string; bootstrap: number; json?: boolean; cache: boolean; allowOutside?: boolean }) => {
      const [{ evaluateRun }, { loadRun }, { formatCalibrationLine, formatMetricLine, formatReferenceLine }] = await Promise.all([
        import('../../train/evaluate.js'), import('../../run/run-io.js'), import('../../train/summary.js'),
      ]);
      const run = loadRun(runDir);
      for (const w of run.warnings) say('warning', `${w}`);
      try {
        const r = await evaluateRun(run, { specPath: o.spec, bootstrap: o.bootstrap, cache: o.cache, quiet: !!o.json, allowOutside: o.allowOutside });
        for (const w of r.warnings ?? []) say('warning', `${w}`);
        if (o.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        const c = run.manifest.config;
        // spec_path comes from the run folder (untrusted): printed with its control characters as escapes, on one line.
        const shown = (x: unknown) => printable(String(x)).replace(/\n/g, '\\n');
        const lines = [`run ${shown(run.dir)} (${c.backbone}/${c.debias}, seed ${c.seed}) on ${r.source === 'external' ? 'external spec ' : ''}${shown(r.spec_path)}`];
        lines.push(formatCalibrationLine(r.calibration));
        for (const [name, m] of Object.entries(r.splits)) lines.push(formatMetricLine(name, m));
        for (const [name, ref] of Object.entries(r.reference ?? {})) lines.push(formatReferenceLine(name, ref));
        if (r.exclusions) lines.push(`  left out: ${Object.entries(r.exclusions).map(([k, v]) => `${v} ${k}`).join(', ')}`);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        run.model.dispose();
      }
    });
}
