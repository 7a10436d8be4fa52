// A clinical reference score (spec.reference, e.g. APACHE IVa's predicted hospital mortality) scored on the
// same patients as the model: the patients of a split that have the score, with the model's metrics on exactly
// those patients and DeLong's paired test of the AUROC difference. Used by train (metrics.json), evaluate,
// benchmark (mean ± std over seeds) and the report; it never depends on which backbones ran.
import { computeMetricSet } from './metrics.js';
import { delongTest } from './delong.js';
import { meanStd, signedMeanStd } from './format.js';

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** Sample standard deviation (n − 1), 0 for one value, as in benchmark tables. */
const std = (xs: number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

/** Metrics of one score on the covered patients. Brier and ECE are null for a score that is not a probability. */
export interface ScoreMetrics {
  auroc: number | null;
  auroc_ci: [number | null, number | null];
  auprc: number | null;
  auprc_ci: [number | null, number | null];
  brier: number | null;
  ece: number | null;
  ece_ci: [number | null, number | null];
}

export interface ReferenceMetrics {
  name: string;
  /** Patients in the split, and those of them with a reference score (both scores are measured on these). */
  n: number;
  covered: number;
  /** Whether every covered score is in [0, 1] (then Brier and ECE are computed). */
  probability: boolean;
  reference: ScoreMetrics;
  /** The model's predictions on the same covered patients. */
  model: ScoreMetrics;
  /** Model − reference AUROC on the covered patients, DeLong's paired test. */
  delong: { diff: number; p: number } | null;
}

/** Ranks scaled to [0, 1] (ties share their mean rank): the same AUROC and AUPRC as the raw scores. */
function rankScale(p: number[]): number[] {
  const order = p.map((_, i) => i).sort((a, b) => p[a] - p[b]);
  const q = new Array<number>(p.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && p[order[j + 1]] === p[order[i]]) j++;
    for (let k = i; k <= j; k++) q[order[k]] = (i + j) / 2 / Math.max(1, order.length - 1);
    i = j + 1;
  }
  return q;
}

function scoreMetrics(y: number[], q: number[], probability: boolean, bootstrap: number, seed: number): ScoreMetrics {
  const m = computeMetricSet(y, q, { bootstrap, seed });
  return {
    auroc: m.auroc, auroc_ci: m.auroc_ci, auprc: m.auprc, auprc_ci: m.auprc_ci,
    brier: probability ? m.brier : null, ece: probability ? m.ece : null, ece_ci: probability ? m.ece_ci : [null, null],
  };
}

/**
 * The reference score and the model on the patients of one split that have the score. `reference` holds NaN
 * where the score is missing; undefined when no patient has it.
 */
export function referenceMetrics(
  name: string, labels: ArrayLike<number>, reference: ArrayLike<number>, p: ArrayLike<number>, bootstrap = 1000, seed = 0,
): ReferenceMetrics | undefined {
  const y: number[] = [], r: number[] = [], m: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (Number.isNaN(reference[i])) continue;
    y.push(labels[i]);
    r.push(reference[i]);
    m.push(Math.min(1, Math.max(0, p[i])));
  }
  if (y.length === 0) return undefined;
  const probability = r.every((v) => v >= 0 && v <= 1);
  // A score on another scale (e.g. APACHE points) is ranked: AUROC and AUPRC depend only on the order.
  const rq = probability ? r : rankScale(r);
  const pos = y.reduce((a, v) => a + v, 0);
  let delong: ReferenceMetrics['delong'] = null;
  if (pos >= 2 && y.length - pos >= 2) {
    const d = delongTest(y, m, rq);
    delong = { diff: d.diff, p: d.p };
  }
  return {
    name, n: labels.length, covered: y.length, probability,
    reference: scoreMetrics(y, rq, probability, bootstrap, seed),
    model: scoreMetrics(y, m, true, bootstrap, seed),
    delong,
  };
}

/** Mean ± std over seeds of the reference and of the model on the reference's patients (benchmark results). */
export interface ReferenceSummary {
  name: string;
  auroc_mean: number;
  auroc_std: number;
  auprc_mean: number;
  auprc_std: number;
  /** Null when the score is not a probability. */
  ece_mean: number | null;
  ece_std: number | null;
  /** Patients scored (those with the reference score), mean over seeds, and their share of the split. */
  covered_mean: number;
  coverage_mean: number;
  /** The configuration's model on the same patients. */
  model_auroc_mean: number;
  model_auroc_std: number;
  model_auprc_mean: number;
  model_auprc_std: number;
  /** Model − reference AUROC on the same patients, mean and std over seeds. */
  delta_auroc_mean: number;
  delta_auroc_std: number;
}

const val = (x: number | null) => (x === null ? NaN : x);

export function summarizeReference(runs: ReferenceMetrics[]): ReferenceSummary | undefined {
  if (!runs.length) return undefined;
  const pick = (f: (r: ReferenceMetrics) => number | null) => runs.map((r) => val(f(r)));
  const prob = runs.every((r) => r.probability);
  const ece = pick((r) => r.reference.ece);
  const d = runs.map((r) => val(r.model.auroc) - val(r.reference.auroc));
  return {
    name: runs[0].name,
    auroc_mean: mean(pick((r) => r.reference.auroc)),
    auroc_std: std(pick((r) => r.reference.auroc)),
    auprc_mean: mean(pick((r) => r.reference.auprc)),
    auprc_std: std(pick((r) => r.reference.auprc)),
    ece_mean: prob ? mean(ece) : null,
    ece_std: prob ? std(ece) : null,
    covered_mean: mean(runs.map((r) => r.covered)),
    coverage_mean: mean(runs.map((r) => r.covered / r.n)),
    model_auroc_mean: mean(pick((r) => r.model.auroc)),
    model_auroc_std: std(pick((r) => r.model.auroc)),
    model_auprc_mean: mean(pick((r) => r.model.auprc)),
    model_auprc_std: std(pick((r) => r.model.auprc)),
    delta_auroc_mean: mean(d),
    delta_auroc_std: std(d),
  };
}

type ResultLike = { backbone: string; debias: string; seeds?: number | number[]; test: { reference?: ReferenceSummary }; shift?: { reference?: ReferenceSummary } };

/**
 * The reference table of a benchmark, as header, rows and a caption: the reference first, then each
 * configuration on the same patients (those with a score). Shared by the printed table and the report.
 */
export function referenceTable(results: ResultLike[]): { head: string[]; rows: string[][]; caption: string } | undefined {
  const first = results.find((r) => r.test.reference)?.test.reference;
  if (!first) return undefined;
  const shiftRef = results.find((r) => r.shift?.reference)?.shift?.reference;
  // Seeds per configuration (a count, or the list in older benchmark files); unknown counts as several. The
  // reference row is computed on every configuration's seeds: its spread shows when any has two or more.
  const seedsOf = (r: ResultLike) => (Array.isArray(r.seeds) ? r.seeds.length : r.seeds ?? 2);
  const seeds = Math.max(...results.map(seedsOf));
  const refCell = (m: number | null, s: number | null) => meanStd(m, s, seeds);
  const head = ['score', 'test AUROC', 'test AUPRC', 'test ECE', 'Δ test AUROC vs ref'];
  if (shiftRef) head.push('shift AUROC', 'shift AUPRC', 'shift ECE', 'Δ shift AUROC vs ref');
  const refRow = [`${first.name} (reference)`, refCell(first.auroc_mean, first.auroc_std), refCell(first.auprc_mean, first.auprc_std), refCell(first.ece_mean, first.ece_std), ''];
  if (shiftRef) refRow.push(refCell(shiftRef.auroc_mean, shiftRef.auroc_std), refCell(shiftRef.auprc_mean, shiftRef.auprc_std), refCell(shiftRef.ece_mean, shiftRef.ece_std), '');
  const rows = [refRow];
  for (const r of results) {
    const t = r.test.reference;
    if (!t) continue;
    const n = seedsOf(r);
    const cell = (m: number | null, s: number | null) => meanStd(m, s, n);
    const signed = (m: number, s: number) => signedMeanStd(m, s, n);
    const row = [`${r.backbone} + ${r.debias}`, cell(t.model_auroc_mean, t.model_auroc_std), cell(t.model_auprc_mean, t.model_auprc_std), '', signed(t.delta_auroc_mean, t.delta_auroc_std)];
    const s = r.shift?.reference;
    if (shiftRef) row.push(s ? cell(s.model_auroc_mean, s.model_auroc_std) : '', s ? cell(s.model_auprc_mean, s.model_auprc_std) : '', '', s ? signed(s.delta_auroc_mean, s.delta_auroc_std) : '');
    rows.push(row);
  }
  const cov = `test ${(100 * first.coverage_mean).toFixed(1)}%${shiftRef ? `, shift ${(100 * shiftRef.coverage_mean).toFixed(1)}%` : ''}`;
  const caption =
    `Reference ${first.name} on the same patients: those with a score (${cov} of each split), ${seeds < 2 ? 'one seed' : 'mean ± std over seeds'}; ` +
    `each configuration's AUROC/AUPRC here is on those patients only; Δ = model − reference, paired by seed.`;
  return { head, rows, caption };
}

/** The reference table printed under a benchmark's. */
export function formatReferenceTable(results: ResultLike[]): string | undefined {
  const t = referenceTable(results);
  if (!t) return undefined;
  const width = t.head.map((h, j) => Math.max(h.length, ...t.rows.map((l) => (l[j] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, j) => (c ?? '').padEnd(width[j])).join('  ').trimEnd();
  return [t.caption, fmt(t.head), width.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(fmt)].join('\n');
}
