// cdmm simulate --out DIR: multi-table data and a spec from a known structural causal model (src/data/simulate.ts).
import type { Command } from 'commander';
import { join } from 'node:path';
import { CdmmError } from '../../util/errors.js';
import { simulate, type Missingness } from '../../data/simulate.js';
import { checkOutDir } from '../../util/outdir.js';

const num = (name: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x)) throw new CdmmError(`--${name}: expected a number, got ${JSON.stringify(v)}`);
  return x;
};

export function register(program: Command): void {
  program
    .command('simulate')
    .description('Write simulated multimodal tables and a spec from a known causal model (missingness and confounding under your control)')
    .requiredOption('--out <dir>', 'output folder: a new or empty folder (or, with --overwrite, a simulated-data folder)')
    .option('--overwrite', 'replace --out when it is a folder cdmm simulate wrote (anything else is never replaced)')
    .option('--n <n>', 'number of patients', num('n'), 20000)
    .option('--seed <s>', 'random seed', num('seed'), 0)
    .option('--missingness <mech>', 'what drives missingness: mcar | mar | mnar', 'mnar')
    .option('--missingness-strength <a>', 'strength A of the missingness driver', num('missingness-strength'), 2)
    .option('--confounding <b>', 'strength B of the confounder–outcome correlation in training', num('confounding'), 2)
    .option('--shift-fraction <f>', 'fraction of patients in the shift (test) environment', num('shift-fraction'), 0.2)
    .option('--json', 'print {"out", "spec", "patients", "files"} on stdout')
    .action(async (o: { out: string; n: number; seed: number; missingness: string; missingnessStrength: number; confounding: number; shiftFraction: number; json?: boolean; overwrite?: boolean }) => {
      checkOutDir(o.out, 'simulate', { overwrite: o.overwrite });
      const r = await simulate({
        out: o.out,
        n: o.n,
        seed: o.seed,
        missingness: o.missingness as Missingness,
        missingnessStrength: o.missingnessStrength,
        confounding: o.confounding,
        shiftFraction: o.shiftFraction,
      });
      if (o.json) process.stdout.write(JSON.stringify({ out: o.out, spec: join(o.out, 'spec.yaml'), patients: r.patients, files: r.files }) + '\n');
      else process.stdout.write(`wrote ${r.patients} simulated patients to ${o.out} (${r.files.join(', ')}); next: cdmm inspect ${o.out}/spec.yaml\n`);
    });
}
