// The simulator: multi-table patient data from a known structural causal model, plus a spec to build it.
//
// Structural causal model (per patient; σ = logistic function):
//   E  ∈ {source, shift}          environment: 20% of patients form the shift environment
//   U  ~ N(0, 1)                  latent severity (never observed)
//   Y  ~ Bernoulli(σ(α + 1.5·U)), α set for a ~15% outcome rate; true_risk = σ(α + 1.5·U) = P(Y | U)
//   C  ~ Bernoulli(σ(B·(2Y − 1)))   in the source environment (confounder correlated with Y, strength B)
//   C  in the shift environment, by scenario: ~ Bernoulli(0.5) (independent of Y), or flipped:
//      ~ Bernoulli(σ(−B·(2Y − 1))) (the correlation points the other way)
//   C is written to patients.csv (column `confounder`) for analysis only; the spec never makes it a feature.
//   Features, each depending on U and C:
//     demographics (tabular, always observed): age = 60 + 8·(0.5·U + ε), bmi = 27 + 2·C + 3ε, sex ∈ {F, M}, site = C
//       (site written with 10% noise)
//     labs (timeseries): 4 variables measured at random days in the year before the index,
//       value_v = w_v·U + 0.8·C + ε (slowly drifting over time)
//     diagnoses (codes): severity codes with P ∝ σ(U − 1), site codes with P ∝ C, background codes at random
//     notes (text): severity words ∝ σ(U), template words that depend on C, neutral words
//     imaging (embedding, 8 dims): z = W_u·U + W_c·C + ε
//   Missingness of labs, diagnoses, notes, imaging (each patient's modality k observed with probability
//   σ(β_k + A·D)), where D is the driver:
//     mnar: D = U (sicker patients are examined more), mar: D = standardised age (observed),
//     mcar: D = 0; A is the missingness strength. In the shift environment the mechanism is reversed
//     (coefficient −A), so "has modality k" points the other way there.
//   Leakage traps: every patient also has lab values, codes and notes AFTER the index time that depend on Y;
//   a build that lets them in would show an implausibly high AUROC.
// Scenarios (--scenario; explicit --missingness / --confounding override their part):
//   none:        MCAR missingness, B = 0 (no shortcut at all: debiasing should cost nothing)
//   missingness: MNAR missingness reversed at shift, B = 0
//   confounding: MCAR missingness, B = 2 in the source, the C–Y correlation flipped at shift
//   both:        MNAR reversed at shift and B = 2 with C ~ Bernoulli(0.5) at shift (the default; the same draws,
//                so the same tables for a seed, as before scenarios existed)
//   The random draws are the same in every scenario (only their thresholds change).
// Splits (column `split`): source patients are train/val/test (70/10/20, i.i.d.); shift patients are `shift`.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { writeDirAtomic } from '../util/atomic.js';
import { CdmmError } from '../util/errors.js';
import { mulberry32, normal } from './rng.js';
import { replaceProblem } from '../util/outdir.js';

export type Missingness = 'mcar' | 'mar' | 'mnar';
export type Scenario = 'none' | 'missingness' | 'confounding' | 'both';
export const SCENARIOS: readonly Scenario[] = ['none', 'missingness', 'confounding', 'both'];
/** How the confounder behaves in the shift environment: independent of Y, or its correlation flipped. */
export type ConfounderShift = 'independent' | 'flipped';

/** What each scenario sets (explicit options override missingness and confounding). */
export const SCENARIO_SETTINGS: Record<Scenario, { missingness: Missingness; confounding: number; confounderShift: ConfounderShift }> = {
  none: { missingness: 'mcar', confounding: 0, confounderShift: 'independent' },
  missingness: { missingness: 'mnar', confounding: 0, confounderShift: 'independent' },
  confounding: { missingness: 'mcar', confounding: 2, confounderShift: 'flipped' },
  both: { missingness: 'mnar', confounding: 2, confounderShift: 'independent' },
};

export interface SimulateOptions {
  out: string;
  n?: number;
  seed?: number;
  /** Which biases the data carries (default both); missingness and confounding below override its settings. */
  scenario?: Scenario;
  missingness?: Missingness;
  /** A: how strongly the driver decides whether a modality is observed. */
  missingnessStrength?: number;
  /** B: how strongly the confounder C tracks Y in the source environment. */
  confounding?: number;
  /** Fraction of patients in the shift environment. */
  shiftFraction?: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const LAB_VARS = ['lactate', 'creatinine', 'crp', 'troponin'];
const LAB_W = [1.0, 0.7, 0.5, 0.3];
const SEVERE_CODES = ['sepsis', 'aki', 'resp_failure', 'shock', 'delirium'];
const SITE_CODES = ['siteA_admin', 'siteA_screen'];
const BACKGROUND_CODES = ['htn', 'diabetes', 'copd', 'ckd', 'obesity', 'asthma', 'afib', 'depression'];
const SEVERE_WORDS = ['dyspnea', 'hypotension', 'confusion', 'tachycardia', 'oliguria', 'febrile'];
const NEUTRAL_WORDS = ['stable', 'routine', 'review', 'cough', 'fatigue', 'pain', 'follow', 'plan', 'history', 'normal'];
const TEMPLATE_WORDS: [string[], string[]] = [['assessment', 'impression'], ['summary', 'findings']];
const EMB_DIM = 8;
/** Baseline logit of being observed per modality: labs, diagnoses, notes, imaging. */
const OBS_BASE = [0.5, 0.8, -0.2, -1.0];

export interface SimulatedSummary {
  patients: number;
  files: string[];
}

/** Writes tables + spec.yaml + README into `out` atomically; returns what it wrote. */
export async function simulate(o: SimulateOptions): Promise<SimulatedSummary> {
  const n = o.n ?? 20000;
  const seed = o.seed ?? 0;
  const scenario = o.scenario ?? 'both';
  if (!SCENARIOS.includes(scenario)) throw new CdmmError(`simulate: --scenario must be one of ${SCENARIOS.join(', ')} (got ${JSON.stringify(scenario)})`);
  const set = SCENARIO_SETTINGS[scenario];
  const mech = o.missingness ?? set.missingness;
  const A = o.missingnessStrength ?? 2;
  const B = o.confounding ?? set.confounding;
  const cShift = set.confounderShift;
  const shiftFraction = o.shiftFraction ?? 0.2;
  if (!Number.isInteger(n) || n < 100) throw new CdmmError(`simulate: --n must be an integer >= 100 (got ${o.n})`);
  if (!['mcar', 'mar', 'mnar'].includes(mech)) throw new CdmmError(`simulate: --missingness must be mcar, mar or mnar (got ${mech})`);
  if (!Number.isFinite(A) || !Number.isFinite(B)) throw new CdmmError('simulate: strengths must be numbers');
  if (!(shiftFraction >= 0 && shiftFraction < 1)) throw new CdmmError('simulate: shift fraction must be in [0, 1)');

  const rand = mulberry32(seed);
  const randn = normal(rand);
  const alpha = -2.3;
  // Fixed random projections for the imaging embedding (same for every patient).
  const Wu = Array.from({ length: EMB_DIM }, () => randn());
  const Wc = Array.from({ length: EMB_DIM }, () => randn());

  const patients: string[] = ['id,index_day,age,sex,bmi,site,y,true_risk,split,followup_days,confounder'];
  const labs: string[] = ['id,day,variable,value'];
  const dx: string[] = ['id,day,code'];
  const notes: string[] = ['id,day,text'];
  const imaging: string[] = ['id,' + Array.from({ length: EMB_DIM }, (_, d) => `emb_${d}`).join(',')];
  const f = (x: number) => (Math.round(x * 1e4) / 1e4).toString();

  for (let i = 0; i < n; i++) {
    const id = `P${String(i + 1).padStart(6, '0')}`;
    const shiftEnv = rand() < shiftFraction;
    const U = randn();
    const risk = sigmoid(alpha + 1.5 * U);
    const y = rand() < risk ? 1 : 0;
    const pC = !shiftEnv ? sigmoid(B * (2 * y - 1)) : cShift === 'flipped' ? sigmoid(-B * (2 * y - 1)) : 0.5;
    const C = rand() < pC ? 1 : 0;
    const r = rand();
    const split = shiftEnv ? 'shift' : r < 0.7 ? 'train' : r < 0.8 ? 'val' : 'test';
    const indexDay = 1000 + Math.floor(rand() * 2000);
    const ageZ = 0.5 * U + randn();
    const age = 60 + 8 * ageZ;
    const sex = rand() < 0.5 ? 'F' : 'M';
    const bmi = 27 + 2 * C + 3 * randn();
    const site = (rand() < 0.9 ? C : 1 - C) ? 'A' : 'B';
    patients.push([id, indexDay, f(age), sex, f(bmi), site, y, f(risk), split, 365 * 5, C].join(','));

    const driver = mech === 'mnar' ? U : mech === 'mar' ? ageZ : 0;
    const coef = shiftEnv ? -A : A;
    const observed = OBS_BASE.map((b) => rand() < sigmoid(b + coef * driver));

    // labs: 1–8 measurement days in the year before the index
    if (observed[0]) {
      const k = 1 + Math.floor(rand() * 8);
      for (let j = 0; j < k; j++) {
        const rel = -Math.floor(rand() * 365);
        LAB_VARS.forEach((v, vi) => {
          if (rand() < 0.8) labs.push(`${id},${indexDay + rel},${v},${f(LAB_W[vi] * U + 0.8 * C + 0.001 * rel + 0.7 * randn())}`);
        });
      }
    }
    // diagnoses in the two years before the index
    if (observed[1]) {
      const codes: string[] = [];
      for (const c of SEVERE_CODES) if (rand() < 0.6 * sigmoid(1.5 * U - 1.5)) codes.push(c);
      for (const c of SITE_CODES) if (rand() < (C ? 0.5 : 0.05)) codes.push(c);
      for (const c of BACKGROUND_CODES) if (rand() < 0.15) codes.push(c);
      if (codes.length === 0) codes.push(BACKGROUND_CODES[Math.floor(rand() * BACKGROUND_CODES.length)]);
      for (const c of codes) dx.push(`${id},${indexDay - Math.floor(rand() * 730)},${c}`);
    }
    // notes in the 30 days before the index
    if (observed[2]) {
      const k = 1 + Math.floor(rand() * 2);
      for (let j = 0; j < k; j++) {
        const words: string[] = [...TEMPLATE_WORDS[C]];
        for (let w = 0; w < 12; w++) {
          words.push(rand() < 0.4 * sigmoid(U) ? SEVERE_WORDS[Math.floor(rand() * SEVERE_WORDS.length)] : NEUTRAL_WORDS[Math.floor(rand() * NEUTRAL_WORDS.length)]);
        }
        notes.push(`${id},${indexDay - Math.floor(rand() * 30)},"${words.join(' ')}"`);
      }
    }
    if (observed[3]) imaging.push(`${id},${Wu.map((w, d) => f(w * U + Wc[d] * C + randn())).join(',')}`);

    // Leakage traps: events after the index that depend on the outcome.
    const after = indexDay + 1 + Math.floor(rand() * 60);
    labs.push(`${id},${after},lactate,${f(5 * y + randn())}`);
    if (y) dx.push(`${id},${after},death_workup`);
    notes.push(`${id},${after},"${y ? 'deceased autopsy' : 'discharged home'}"`);
  }

  const params: Params = { n, seed, scenario, mech, A, B, cShift, shiftFraction };
  const spec = specText(params);
  const files = ['patients.csv', 'labs.csv', 'diagnoses.csv', 'notes.csv', 'imaging.csv', 'spec.yaml', 'README.md'];
  await writeDirAtomic(o.out, (dir) => {
    writeFileSync(join(dir, 'patients.csv'), patients.join('\n') + '\n');
    writeFileSync(join(dir, 'labs.csv'), labs.join('\n') + '\n');
    writeFileSync(join(dir, 'diagnoses.csv'), dx.join('\n') + '\n');
    writeFileSync(join(dir, 'notes.csv'), notes.join('\n') + '\n');
    writeFileSync(join(dir, 'imaging.csv'), imaging.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), spec);
    writeFileSync(join(dir, 'README.md'), readme(params));
  }, { replaceable: (d) => replaceProblem(d, 'simulate') });
  return { patients: n, files };
}

interface Params { n: number; seed: number; scenario: Scenario; mech: Missingness; A: number; B: number; cShift: ConfounderShift; shiftFraction: number }

const SCENARIO_TEXT: Record<Scenario, string> = {
  none: 'none (MCAR missingness, no confounding: nothing to debias)',
  missingness: 'missingness (MNAR missingness reversed in the shift environment, no confounding)',
  confounding: 'confounding (MCAR missingness; the confounder tracks Y in the source and the opposite way in the shift environment)',
  both: 'both (MNAR missingness reversed in the shift environment, and a confounder independent of Y there)',
};

function header(p: Params): string {
  const shiftC = p.cShift === 'flipped'
    ? `P(C=1 | Y) = σ(-B·(2Y-1)): the correlation is flipped.`
    : `C ~ Bernoulli(0.5), independent of Y.`;
  const set = SCENARIO_SETTINGS[p.scenario];
  const overrides = [
    ...(p.mech !== set.missingness ? [`--missingness ${p.mech}`] : []),
    ...(p.B !== set.confounding ? [`--confounding ${p.B}`] : []),
  ];
  const changes = [
    ...(p.mech !== 'mcar' && p.A !== 0 ? ['reversed missingness'] : []),
    ...(p.B !== 0 ? [p.cShift === 'flipped' ? 'the confounder correlation flipped' : 'no confounder correlation'] : []),
  ];
  return `# Simulated by \`cdmm simulate --scenario ${p.scenario} --n ${p.n} --seed ${p.seed} --missingness ${p.mech} --missingness-strength ${p.A} --confounding ${p.B}\`.
# Scenario: ${SCENARIO_TEXT[p.scenario]}${overrides.length ? `, overridden by ${overrides.join(' ')}` : ''}.
#
# Structural causal model (σ = logistic):
#   U ~ N(0,1) latent severity;  Y ~ Bernoulli(σ(-2.3 + 1.5·U));  true_risk = P(Y | U) (column true_risk)
#   C: confounder (column confounder, not a feature); in the source environment P(C=1 | Y) = σ(B·(2Y-1)) with
#      B = ${p.B}; in the shift environment ${shiftC}
#   demographics (always observed) depend on U (age) and C (bmi, site); labs, diagnoses, notes and imaging depend
#   on U and C. Each of those four is observed with probability σ(β_k + A·D), A = ${p.A}, D = ${p.mech === 'mnar' ? 'U (MNAR)' : p.mech === 'mar' ? 'standardised age (MAR)' : '0 (MCAR)'};
#   in the shift environment the coefficient is -A (the missingness mechanism is reversed).
#   Events after the index time depend on Y (leakage traps): the build must ignore them.
# Splits: train/val/test are i.i.d. from the source environment; shift is the test environment
# (${Math.round(p.shiftFraction * 100)}% of patients) ${changes.length ? `with ${changes.join(' and ')}` : 'drawn like the source (MCAR, no confounding: no bias to remove)'}.
`;
}

function specText(p: Params): string {
  return `${header(p)}name: simulated
description: Simulated multimodal cohort from a known causal model (see header)
tables:
  patients: { file: patients.csv, id: id }
  labs: { file: labs.csv, id: id, time: day }
  diagnoses: { file: diagnoses.csv, id: id, time: day }
  notes: { file: notes.csv, id: id, time: day }
  imaging: { file: imaging.csv, id: id }
cohort:
  table: patients
  index_time: index_day
label:
  column: y
true_risk: { table: patients, column: true_risk }
modalities:
  demographics:
    type: tabular
    table: patients
    numeric: [age, bmi]
    categorical: [sex, site]
  labs:
    type: timeseries
    table: labs
    variable: variable
    value: value
    window: { start: -365, end: 0 }
    bins: 4
    aggregate: mean
  diagnoses:
    type: codes
    table: diagnoses
    code: code
    window: { start: -730, end: 0 }
    min_count: 5
  notes:
    type: text
    table: notes
    text: text
    window: { start: -30, end: 0 }
    width: 64
  imaging:
    type: embedding
    table: imaging
    column_prefix: emb_
split:
  method: column
  column: split
`;
}

function readme(p: Params): string {
  return `# Simulated multimodal cohort\n\n${header(p).replace(/^# ?/gm, '')}\nFiles: patients.csv (one row per patient, label y, true_risk, split, confounder C: for analysis, not a feature), labs.csv (long: id, day, variable, value),\ndiagnoses.csv (id, day, code), notes.csv (id, day, text), imaging.csv (id, emb_0..emb_${EMB_DIM - 1}), spec.yaml.\nTimes are absolute days; each patient's index time is its index_day.\n`;
}
