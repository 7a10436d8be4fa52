// cdmm predict RUN --input FILE --out FILE|- [--json]: risk, pattern, counterfactuals and modality contributions
// for new patients, with the run's fitted preprocessing.
import type { Command } from 'commander';
import { checkOutFile, isPredictionsFile, writeOutFile } from '../../util/outdir.js';
import { say } from '../../util/say.js';
import { CdmmError } from '../../util/errors.js';

export function register(program: Command): void {
  program
    .command('predict')
    .description('Predict for new patients: debiased and factual risk, missingness pattern, counterfactual risk and contribution per modality')
    .argument('<run>', 'run folder (cdmm train --out)')
    .requiredOption('--input <path>', "patients: a folder of the spec's table files, a YAML/JSON mapping table → file, a dataset spec, or JSON patient records (.json/.jsonl)")
    .requiredOption('--out <file>', "output file: .json or .csv (an existing file only with --overwrite), or '-' for stdout (JSON, or CSV with --format csv)")
    .option('--format <json|csv>', "with --out -: what to print on stdout (default json)")
    .option('--overwrite', 'replace --out when it is a predictions file cdmm wrote')
    .option('--allow-outside', "read table files a spec or mapping names outside its folder")
    .option('--json', 'print a JSON summary (count, output file, exclusions) on stdout')
    .option('--no-typical', "no typical values, so no counterfactuals for missing modalities (they come from the manifest, or from the training data for older runs)")
    .action(async (run: string, o: { input: string; out: string; format?: string; json?: boolean; typical: boolean; overwrite?: boolean; allowOutside?: boolean }) => {
      const [{ Predictor }, { predictionsCsv, predictionsJson }, { outputFormat }] = await Promise.all([
        import('../../serve/predictor.js'), import('../../serve/format.js'), import('../../serve/input.js'),
      ]);
      const toStdout = o.out === '-';
      if (o.format !== undefined && o.format !== 'json' && o.format !== 'csv') throw new CdmmError(`--format ${o.format}: expected json or csv`);
      if (o.format !== undefined && !toStdout) throw new CdmmError(`--format: only with --out - (a file's format is its extension: ${o.out})`);
      if (toStdout && o.json) throw new CdmmError('--json with --out -: both would print on stdout; the predictions are JSON already (or give --out a file)');
      const format = toStdout ? ((o.format as 'json' | 'csv' | undefined) ?? 'json') : outputFormat(o.out);
      if (!toStdout) checkOutFile(o.out, 'predictions', isPredictionsFile, { overwrite: o.overwrite });
      const predictor = await Predictor.load(run, { rebuildTypical: o.typical });
      for (const w of predictor.warnings) say('warning', `${w}`);
      try {
        const set = await predictor.predictFiles(o.input, { allowOutside: o.allowOutside });
        const m = predictor.manifest;
        for (const w of set.warnings ?? []) say('warning', w);
        const text = format === 'json' ? predictionsJson(set, { dir: predictor.runDir, dataset: m.dataset }) : predictionsCsv(set, predictor.modalities);
        const excluded = set.excluded ? Object.entries(set.excluded).filter(([, v]) => v > 0).map(([k, v]) => `${v} ${k}`).join(', ') : '';
        const left = excluded ? ` (left out: ${excluded})` : '';
        if (toStdout) {
          // stdout holds the predictions alone; the summary line goes to stderr
          process.stdout.write(text);
          say('note', `${set.predictions.length} patient(s)${left}`);
        } else {
          writeOutFile(o.out, text, 'predictions', isPredictionsFile, { overwrite: o.overwrite });
          if (o.json) {
            process.stdout.write(JSON.stringify({ out: o.out, n: set.predictions.length, excluded: set.excluded ?? {}, typical_values: predictor.typical.source, ...(set.missingTables ? { tables_not_given: set.missingTables } : {}), ...(set.warnings ? { warnings: set.warnings } : {}) }) + '\n');
            return;
          }
          process.stdout.write(`${set.predictions.length} patient(s) → ${o.out}${left}\n`);
        }
        if (set.missingTables) say('note', `no file for table(s) ${set.missingTables.join(', ')} in ${o.input}: what they hold counts as missing`);
        if (predictor.typical.note) say('note', `no counterfactuals for missing modalities: ${predictor.typical.note}`);
      } finally {
        predictor.dispose();
      }
    });
}
