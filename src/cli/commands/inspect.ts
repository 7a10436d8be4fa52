// cdmm inspect SPEC [--json]: what a dataset looks like before any model sees it.
import type { Command } from 'commander';
import { intArg } from '../../train/cli-options.js';
import { printable } from '../../util/say.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Build (or load from cache) a dataset spec and show cohort, label rate, splits, modalities and missingness patterns')
    .argument('<spec>', 'dataset spec (YAML)')
    .option('--json', 'print the summary as JSON')
    .option('--no-cache', 'rebuild even when a cached build exists')
    .option('--seed <n>', 'override the split seed', intArg('seed'))
    .option('--allow-outside', "read table files outside the spec's folder")
    .action(async (specPath: string, o: { json?: boolean; cache: boolean; seed?: number; allowOutside?: boolean }) => {
      const [{ prepareDataset }, { formatSummary, summarize }, { deconfounderDecision, describeDeconfounderDecision }] = await Promise.all([
        import('../../data/build.js'),
        import('../../data/summary.js'),
        import('../../train/debias/deconfound.js'),
      ]);
      const ds = await prepareDataset(specPath, { cache: o.cache, quiet: !!o.json, seed: o.seed, allowOutside: o.allowOutside });
      const s = summarize(ds);
      // What train's deconfounder gate will decide on these splits (training seed 0, train's default).
      const decision = deconfounderDecision(ds, 0);
      const deconfounder = describeDeconfounderDecision(decision);
      if (o.json) {
        const { dataset, patients, label_rate, splits, split_positives, modalities, patterns, candidates, exclusions, warnings, table_ids, patient_key, reference } = s;
        const mods = Object.fromEntries(Object.entries(modalities).map(([k, m]) => [k, { type: m.type, available: m.available, dim: m.dim }]));
        const extra = { ...(table_ids ? { table_ids } : {}), ...(patient_key ? { patient_key } : {}), ...(reference ? { reference } : {}) };
        process.stdout.write(JSON.stringify({ patients, label_rate, splits, split_positives, modalities: mods, patterns, dataset, candidates, exclusions, warnings, ...extra, deconfounder: deconfounder.json }, null, 2) + '\n');
      } else {
        // The table quotes the data (categories, codes): shown with control and bidi characters escaped.
        process.stdout.write(printable(formatSummary(s, ds.modalities.map((m) => m.name)) + '\n' + deconfounder.text) + '\n');
      }
    });
}
