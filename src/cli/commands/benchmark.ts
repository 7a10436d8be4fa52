// cdmm benchmark SPEC --backbones ... --debias ... --seeds N --out DIR: every combination, one run folder each,
// and the table of mean ± std with paired differences against the plain model (docs/RUN-FORMAT.md).
import type { Command } from 'commander';
import { formatBenchmark, runBenchmark } from '../../train/benchmark.js';
import { BACKBONES, DEBIAS, addTrainingOptions, listOf, modelOverridesFrom, trainOptionsFrom, type TrainingFlags } from '../../train/cli-options.js';
import { CdmmError } from '../../util/errors.js';

/** --seeds 5 means seeds 0..4; --seeds 3,7,11 lists them. */
export function parseSeeds(v: string): number[] {
  const bad = () => new CdmmError(`--seeds ${v}: expected a count (5) or a list of seeds (0,1,2)`);
  if (v.includes(',')) {
    const xs = v.split(',').map((s) => Number(s.trim()));
    if (xs.some((x) => !Number.isInteger(x) || x < 0) || new Set(xs).size !== xs.length) throw bad();
    return xs;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw bad();
  return Array.from({ length: n }, (_, i) => i);
}

export function register(program: Command): void {
  const cmd = program
    .command('benchmark')
    .description('Train every backbone × debiasing setting over several seeds and tabulate mean ± std and paired differences')
    .argument('<spec>', 'dataset spec (YAML)')
    .requiredOption('--out <dir>', 'benchmark folder (benchmark.json and runs/)')
    .option('--backbones <list>', 'comma-separated backbones', BACKBONES.join(','))
    .option('--debias <list>', 'comma-separated debiasing settings', DEBIAS.join(','))
    .option('--seeds <n|list>', 'number of seeds (0..n-1) or a list', '5')
    .option('--resume', 'keep run folders that already exist with the same configuration')
    .option('--json', 'print benchmark.json instead of the table')
    .option('--quiet', 'no progress bar');
  addTrainingOptions(cmd).action(async (specPath: string, o: TrainingFlags & { out: string; backbones: string; debias: string; seeds: string; resume?: boolean; json?: boolean; quiet?: boolean }) => {
    if (o.splitSeed !== undefined) throw new CdmmError('--split-seed: not used by benchmark (random splits are re-drawn with each seed)');
    const { seed: _seed, ...train } = trainOptionsFrom(o, 0);
    const b = await runBenchmark({
      specPath,
      backbones: listOf('backbones', BACKBONES, o.backbones),
      debias: listOf('debias', DEBIAS, o.debias),
      seeds: parseSeeds(o.seeds),
      train,
      model: modelOverridesFrom(o),
      out: o.out,
      cache: o.cache,
      quiet: !!o.quiet,
      resume: !!o.resume,
    });
    process.stdout.write((o.json ? JSON.stringify(b, null, 2) : formatBenchmark(b)) + '\n');
  });
}
