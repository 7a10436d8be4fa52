// cdmm simulate --out DIR: multi-table data and a spec from a known structural causal model (src/data/simulate.ts).
import type { Command } from 'commander';
import { join } from 'node:path';
import { CdmmError } from '../../util/errors.js';
import { SCENARIOS, simulate, type Missingness, type Scenario } from '../../data/simulate.js';
import { checkOutDir } from '../../util/outdir.js';

const num = (name: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x)) throw new CdmmError(`--${name}: expected a number, got ${JSON.stringify(v)}`);
  return x;
};

const scenarioArg = (v: string): Scenario => {
  if (!(SCENARIOS as readonly string[]).includes(v)) throw new CdmmError(`--scenario: expected one of ${SCENARIOS.join(', ')}, got ${JSON.stringify(v)}`);
  return v as Scenario;
};

export function register(program: Command): void {
  program
    .command('simulate')
    .description('Write simulated multimodal tables and a spec from a known causal model (missingness and confounding under your control)')
    .requiredOption('--out <dir>', 'output folder: a new or empty folder (or, with --overwrite, a simulated-data folder)')
    .option('--overwrite', 'replace --out when it is a folder cdmm simulate wrote (anything else is never replaced)')
    .option('--n <n>', 'number of patients', num('n'), 20000)
    .option('--seed <s>', 'random seed', num('seed'), 0)
    .option(
      '--scenario <name>',
      'which biases the data carries: none (MCAR missingness, no confounding) | missingness (MNAR missingness reversed in the shift ' +
        'environment, no confounding) | confounding (MCAR; confounder tracks Y with strength 2, flipped in the shift environment) | ' +
        'both (MNAR reversed at shift + confounder with strength 2, independent of Y at shift). --missingness and --confounding, ' +
        "when given, override the scenario's setting",
      scenarioArg,
      'both',
    )
    .option('--missingness <mech>', "what drives missingness: mcar | mar | mnar (default: the scenario's, mnar for both/missingness, mcar otherwise)")
    .option('--missingness-strength <a>', 'strength A of the missingness driver', num('missingness-strength'), 2)
    .option('--confounding <b>', "strength B of the confounder–outcome correlation in training (default: the scenario's, 2 for both/confounding, 0 otherwise)", num('confounding'))
    .option('--shift-fraction <f>', 'fraction of patients in the shift (test) environment', num('shift-fraction'), 0.2)
    .option('--json', 'print {"out", "spec", "patients", "files"} on stdout')
    .action(async (o: { out: string; n: number; seed: number; scenario: Scenario; missingness?: string; missingnessStrength: number; confounding?: number; shiftFraction: number; json?: boolean; overwrite?: boolean }) => {
      checkOutDir(o.out, 'simulate', { overwrite: o.overwrite });
      const r = await simulate({
        out: o.out,
        n: o.n,
        seed: o.seed,
        scenario: o.scenario,
        missingness: o.missingness as Missingness | undefined,
        missingnessStrength: o.missingnessStrength,
        confounding: o.confounding,
        shiftFraction: o.shiftFraction,
      });
      if (o.json) process.stdout.write(JSON.stringify({ out: o.out, spec: join(o.out, 'spec.yaml'), patients: r.patients, files: r.files }) + '\n');
      else process.stdout.write(`wrote ${r.patients} simulated patients to ${o.out} (${r.files.join(', ')}; scenario ${o.scenario}); next: cdmm inspect ${o.out}/spec.yaml\n`);
    });
}
