// cdmm train SPEC --backbone B --debias D --seed S --out RUN: trains one model and writes a run folder
// (docs/RUN-FORMAT.md).
import type { Command } from 'commander';
import { BACKBONES, DEBIAS, addTrainingOptions, intArg, modelOverridesFrom, oneOf, trainOptionsFrom, type TrainingFlags } from '../../train/cli-options.js';
import { checkOutDir } from '../../util/outdir.js';
import { say } from '../../util/say.js';

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('Train one model (backbone × debiasing setting) on a dataset spec and write a run folder')
    .argument('<spec>', 'dataset spec (YAML)')
    .requiredOption('--out <dir>', 'run folder to write: a new or empty folder (or, with --overwrite, a run folder)')
    .option('--overwrite', 'replace --out when it is a cdmm run folder (anything else is never replaced)')
    .option('--allow-outside', "read table files outside the spec's folder")
    .option('--backbone <name>', `fusion backbone: ${BACKBONES.join(' | ')}`, 'early')
    .option('--debias <mode>', `debiasing: ${DEBIAS.join(' | ')}`, 'full')
    .option('--seed <n>', 'model seed (initial weights, dropout, batch order)', intArg('seed'), 0)
    .option('--json', 'print metrics.json instead of the summary')
    .option('--quiet', 'no progress bar');
  addTrainingOptions(cmd).action(async (specPath: string, o: TrainingFlags & { out: string; backbone: string; debias: string; seed: number; json?: boolean; quiet?: boolean; overwrite?: boolean; allowOutside?: boolean }) => {
    const backbone = oneOf('backbone', BACKBONES, o.backbone);
    const debias = oneOf('debias', DEBIAS, o.debias);
    const train = trainOptionsFrom(o, o.seed);
    const model = modelOverridesFrom(o);
    // Before any work: a --out that would lose someone's files, or cannot be written, stops here.
    const outState = checkOutDir(o.out, 'run', { overwrite: o.overwrite });
    const [{ prepareDataset }, { loadSpec }, { formatRunSummary }, { printWarnings }, { trainRun }] = await Promise.all([
      import('../../data/build.js'), import('../../data/spec.js'), import('../../train/summary.js'), import('../warnings.js'), import('../../train/run.js'),
    ]);
    const spec = loadSpec(specPath);
    const quiet = !!o.quiet || !!o.json;
    const ds = await prepareDataset(specPath, { cache: o.cache, quiet, seed: o.splitSeed, allowOutside: o.allowOutside });
    printWarnings(ds);
    const r = await trainRun(ds, { specPath, spec, splitSeed: o.splitSeed ?? null }, { backbone, debias, model, train }, o.out, {
      quiet: !!o.quiet,
      label: `train ${backbone}/${debias}`,
      mayReplace: outState === 'replace',
    });
    for (const note of r.notes) say('note', `${note}`);
    // metrics.json, with where the run was written and what the debiasing parts decided (the notes above).
    if (o.json) process.stdout.write(JSON.stringify({ ...r.metrics, run: r.dir, notes: r.notes }, null, 2) + '\n');
    else process.stdout.write(formatRunSummary(r) + '\n');
  });
}
