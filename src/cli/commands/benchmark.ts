// cdmm benchmark SPEC --backbones ... --debias ... --seeds N --out DIR: every combination, one run folder each,
// and the table of mean ± std with paired differences against the plain model (docs/RUN-FORMAT.md).
import type { Command } from 'commander';
import { BACKBONES, DEBIAS, addTrainingOptions, listOf, modelOverridesFrom, trainOptionsFrom, type TrainingFlags } from '../../train/cli-options.js';
import { CdmmError } from '../../util/errors.js';

/** The arguments this command was given (after the command name), for the resume hint. */
function commandArgs(cmd: Command): string[] {
  const raw = (cmd.parent as (Command & { rawArgs?: string[] }) | null)?.rawArgs ?? [];
  const at = raw.indexOf('benchmark');
  return at >= 0 ? raw.slice(at + 1).filter((a) => a !== '--debug') : [];
}

const MAX_SEEDS = 1000;

/** --seeds 5 means seeds 0..4; --seeds 3,7,11 lists them. */
export function parseSeeds(v: string): number[] {
  const bad = () => new CdmmError(`--seeds ${v}: expected a count (5) or a list of seeds (0,1,2)`);
  if (v.includes(',')) {
    const xs = v.split(',').map((s) => Number(s.trim()));
    if (xs.some((x) => !Number.isInteger(x) || x < 0) || new Set(xs).size !== xs.length) throw bad();
    if (xs.length > MAX_SEEDS) throw new CdmmError(`--seeds: ${xs.length} seeds listed, expected at most ${MAX_SEEDS}`);
    return xs;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw bad();
  // Each seed is a run per configuration: beyond this a typo (the plan alone would fill the memory).
  if (n > MAX_SEEDS) throw new CdmmError(`--seeds ${v}: expected at most ${MAX_SEEDS} seeds (each is a run per backbone and debias mode)`);
  return Array.from({ length: n }, (_, i) => i);
}

/** What --seeds does to the splits (src/data/build.ts makeSplit, src/data/split.ts), for --help. */
export const SEEDS_HELP = `
Seeds and splits: each seed S trains every configuration with training seed S (model initialisation and
the training's randomness). The patient split depends on the spec's split.method:
  random, group, shift: the split is drawn again for each seed, with split seed S in place of the spec's
    split.seed (stratified random split, groups dealt to train/val/test, and for method shift the training
    subsample, all with S); a shift environment chosen by value (split.shift) is the same for every seed.
  column: the split is fixed by the column; every seed uses the same patients, only the training seed changes.
So the table's std over seeds includes the split's variation except for column splits. --split-seed is refused
(the split seeds are the seeds). The references under the table (oracle: AUROC of the spec's true_risk on test
and shift; in-distribution ceiling: a logistic regression cross-validated with 5 stratified folds inside the
shift split) are computed once, on the first seed's splits, and kept by --resume.`;

export function register(program: Command): void {
  const cmd = program
    .command('benchmark')
    .description('Train every backbone × debiasing setting over several seeds and tabulate mean ± std and paired differences')
    .argument('<spec>', 'dataset spec (YAML)')
    .requiredOption('--out <dir>', 'benchmark folder (benchmark.json and runs/): a new or empty folder, or a benchmark folder with --resume/--overwrite')
    .option('--backbones <list>', 'comma-separated backbones', BACKBONES.join(','))
    .option('--debias <list>', 'comma-separated debiasing settings', DEBIAS.join(','))
    .option('--seeds <n|list>', 'number of seeds (0..n-1) or a list', '5')
    .option('--resume', 'continue the benchmark folder at --out (an interrupted one): keep its finished runs, train the rest')
    .option('--overwrite', 'replace --out when it is a cdmm benchmark folder (anything else is never replaced)')
    .option('--allow-outside', "read table files outside the spec's folder")
    .option('--json', 'print benchmark.json instead of the table')
    .option('--quiet', 'no progress bar')
    .addHelpText('after', SEEDS_HELP);
  addTrainingOptions(cmd);
  const splitSeedOption = cmd.options.find((x) => x.long === '--split-seed');
  if (splitSeedOption) splitSeedOption.description = 'refused by benchmark: the split seeds are the seeds (see below)';
  cmd.action(async (specPath: string, o: TrainingFlags & { out: string; backbones: string; debias: string; seeds: string; resume?: boolean; overwrite?: boolean; allowOutside?: boolean; json?: boolean; quiet?: boolean }) => {
    if (o.splitSeed !== undefined) throw new CdmmError('--split-seed: not used by benchmark (each seed S draws random, group and shift splits with split seed S; a column split is the same for every seed; see cdmm benchmark --help)');
    const { seed: _seed, ...train } = trainOptionsFrom(o, 0);
    const [{ formatBenchmark, runBenchmark }, { printWarnings }] = await Promise.all([import('../../train/benchmark.js'), import('../warnings.js')]);
    const seen = new Set<string>();
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
      overwrite: !!o.overwrite,
      allowOutside: !!o.allowOutside,
      command: ['benchmark', ...commandArgs(cmd)],
      onDataset: (ds) => printWarnings(ds, seen),
    });
    process.stdout.write((o.json ? JSON.stringify(b, null, 2) : formatBenchmark(b)) + '\n');
  });
}
