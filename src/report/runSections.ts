import { auroc } from '../eval/metrics.js';
import { calibrationBins, prCurve, rocCurve } from '../eval/curves.js';
import { calibrationChart, historyChart, intervalChart, MAX_CHART_PATTERNS, patternEffectsChart, patternMapChart, prChart, rocChart, type CurveSeries, type IntervalRow, type PatternRow } from './charts.js';
import type { Charter } from './charter.js';
import { fmt, fmtCi, fmtSigned, note, table, type Section } from './html.js';
import type { MetricSetJson, PatternMetricsJson, ReferenceMetricsJson, RunData } from './load.js';

/** The sections describing one run folder. `prefix` keeps section ids unique when a page holds several runs. */

const SPLITS = ['val', 'test', 'shift'] as const;

export function runLabel(r: RunData): string {
  return `${r.metrics.backbone} + ${r.metrics.debias}, seed ${r.metrics.seed}`;
}

function metricsTable(splits: Record<string, MetricSetJson | undefined>): string {
  const rows = SPLITS.flatMap((s) => {
    const m = splits[s];
    return m
      ? [[s, m.n, fmt(m.prevalence), fmtCi(m.auroc, m.auroc_ci), fmtCi(m.auprc, m.auprc_ci), fmtCi(m.brier, m.brier_ci, 4), fmtCi(m.ece, m.ece_ci, 4)]]
      : [];
  });
  return table(['split', 'n', 'prevalence', 'AUROC [95% CI]', 'AUPRC [95% CI]', 'Brier [95% CI]', 'ECE [95% CI]'], rows);
}

/** One line for the calibration record of a manifest (passthrough: checked only for its shape here). */
function calibrationText(c: unknown): string {
  if (!c || typeof c !== 'object') return 'none recorded (a run older than cdmm-model/3: risks are the model’s own)';
  const r = c as Record<string, unknown>;
  const n = (k: string) => (typeof r[k] === 'number' ? fmt(r[k] as number) : '?');
  switch (r.method) {
    case 'platt':
      return `Platt scaling σ(a·logit p + b), a = ${n('a')}, b = ${n('b')}`;
    case 'temperature':
      return `temperature scaling σ(logit p / t), t = ${n('t')}`;
    case 'isotonic':
      return `isotonic regression (${Array.isArray(r.x) ? r.x.length : '?'} points)`;
    case 'none':
      return r.fallback ? `none: ${String(r.requested)} fell back (${String(r.fallback)})` : 'none';
    default:
      return String(r.method);
  }
}

/** The calibration section: the map fitted on validation, ECE before and after per split, the reliability before and after. */
async function calibrationSection(run: RunData, charter: Charter, id: string): Promise<Section | undefined> {
  const splits = run.metrics.splits as Record<string, MetricSetJson | undefined>;
  const rows = SPLITS.flatMap((s) => {
    const m = splits[s];
    return m && m.ece_raw !== undefined ? [[s, m.n, fmt(m.ece_raw, 4), fmt(m.ece, 4), fmtSigned(m.ece - m.ece_raw, 4)]] : [];
  });
  if (!rows.length) return undefined;
  let body = note(`Calibration of the served risk, fitted on the validation split: ${calibrationText((run.manifest as Record<string, unknown>).calibration)}. Every risk in this report, in predict and in serve goes through it.`);
  body += table(['split', 'n', 'ECE before (model’s own p_do)', 'ECE after (served)', 'Δ'], rows, { caption: 'Expected calibration error, 10 equal-width bins' });
  const preds = run.predictions;
  if (preds) {
    const cal: CurveSeries<ReturnType<typeof calibrationBins>[number]>[] = [];
    for (const s of SPLITS.filter((x) => x !== 'val')) {
      const sp = preds[s];
      if (!sp || !sp.p_raw || sp.y.length === 0) continue;
      cal.push({ label: `${s} before`, points: calibrationBins(sp.y, sp.p_raw) });
      cal.push({ label: `${s} after`, points: calibrationBins(sp.y, sp.p) });
    }
    if (cal.length)
      body += `<div class="charts">${await charter.figure(calibrationChart(cal, 'Calibration before and after'), 'Reliability of the model’s own p_do (before) and of the served, calibrated risk (after) on the held-out splits (10 equal-width bins; point size: patients).')}</div>`;
  }
  return { id, title: 'Calibration before and after', body };
}

/** The reference score next to the model on the patients of each split that have the score. */
function referenceRunTable(refs: [string, ReferenceMetricsJson][]): string {
  const rows = refs.flatMap(([split, r]) => [
    [split, r.name, `${r.covered} of ${r.n}`, fmtCi(r.reference.auroc, r.reference.auroc_ci), fmtCi(r.reference.auprc, r.reference.auprc_ci), r.reference.ece === null ? '—' : fmtCi(r.reference.ece, r.reference.ece_ci, 4), '—'],
    [split, 'this model', `${r.covered} of ${r.n}`, fmtCi(r.model.auroc, r.model.auroc_ci), fmtCi(r.model.auprc, r.model.auprc_ci), r.model.ece === null ? '—' : fmtCi(r.model.ece, r.model.ece_ci, 4),
      r.delong ? `${fmtSigned(r.delong.diff)} (p ${fmt(r.delong.p)})` : '—'],
  ]);
  return (
    table(['split', 'score', 'patients', 'AUROC [95% CI]', 'AUPRC [95% CI]', 'ECE [95% CI]', 'Δ AUROC model − reference (DeLong)'], rows) +
    note('Both scores on the same patients: those of the split that have the reference score.')
  );
}

function patternMetricsTable(rows: PatternMetricsJson[], caption: string): string {
  return table(
    ['pattern', 'n', 'prevalence', 'AUROC', 'AUPRC', 'Brier', 'mean p'],
    rows.map((r) => [r.mask, r.n, fmt(r.prevalence), fmt(r.auroc), fmt(r.auprc), fmt(r.brier, 4), fmt(r.mean_p)]),
    { caption },
  );
}

/** Patterns with count and label rate: from insights.json (training split) when present, else the test predictions. */
function patternRows(run: RunData): { rows: PatternRow[]; overall: number; source: string } | undefined {
  if (run.insights && run.insights.patterns.length) return { rows: run.insights.patterns, overall: run.insights.marginal, source: 'insights.json' };
  const test = run.predictions?.test;
  if (!test?.mask) return undefined;
  const acc = new Map<string, { count: number; pos: number }>();
  test.mask.forEach((m, i) => {
    const a = acc.get(m) ?? { count: 0, pos: 0 };
    a.count++;
    a.pos += test.y[i];
    acc.set(m, a);
  });
  const rows = [...acc].map(([mask, a]) => ({ mask, count: a.count, label_rate: a.pos / a.count }));
  return { rows, overall: test.y.reduce((s, v) => s + v, 0) / test.y.length, source: 'test predictions' };
}

export async function runSections(run: RunData, charter: Charter, prefix = 'run'): Promise<Section[]> {
  const sections: Section[] = [];
  const { metrics } = run;
  const id = (s: string) => `${prefix}-${s}`;

  sections.push({ id: id('metrics'), title: 'Metrics', body: metricsTable(metrics.splits) + note('95% percentile-bootstrap intervals, resampled within each class.') });
  const refs = Object.entries(metrics.reference ?? {});
  if (refs.length) sections.push({ id: id('reference'), title: `Reference score: ${refs[0][1].name}`, body: referenceRunTable(refs) });

  // Curves from predictions.json, one series per split.
  const preds = run.predictions;
  if (preds) {
    const present = SPLITS.filter((s) => preds[s] && preds[s].y.length > 0);
    const roc: CurveSeries<ReturnType<typeof rocCurve>[number]>[] = [];
    const pr: CurveSeries<ReturnType<typeof prCurve>[number]>[] = [];
    const cal: CurveSeries<ReturnType<typeof calibrationBins>[number]>[] = [];
    for (const s of present) {
      const { y, p } = preds[s];
      const a = auroc(y, p);
      const label = `${s} (AUROC ${fmt(a)})`;
      const rc = rocCurve(y, p);
      if (rc.length) roc.push({ label, points: rc });
      const pc = prCurve(y, p);
      if (pc.length) pr.push({ label: `${s} (prevalence ${fmt(y.reduce((u, v) => u + v, 0) / y.length)})`, points: pc });
      cal.push({ label: s, points: calibrationBins(y, p) });
    }
    const figs: string[] = [];
    if (roc.length) figs.push(await charter.figure(rocChart(roc), 'ROC curves per split (dashed: chance).'));
    if (pr.length) figs.push(await charter.figure(prChart(pr), 'Precision–recall curves per split.'));
    if (cal.length) figs.push(await charter.figure(calibrationChart(cal), 'Reliability: mean predicted risk vs observed rate in 10 equal-width bins (point size: patients).'));
    sections.push({ id: id('curves'), title: 'Discrimination and calibration', body: figs.length ? `<div class="charts">${figs.join('')}</div>` : note('No split has both classes.') });
  } else {
    sections.push({ id: id('curves'), title: 'Discrimination and calibration', body: note('predictions.json is not in the run folder: no curves.') });
  }

  const calSection = await calibrationSection(run, charter, id('calibration'));
  if (calSection) sections.push(calSection);

  // AUROC per split with CIs: the i.i.d. test split next to the shifted one.
  const iv: IntervalRow[] = SPLITS.flatMap((s) => {
    const m = metrics.splits[s];
    return m && m.auroc != null ? [{ group: s, series: 'AUROC', value: m.auroc, lo: m.auroc_ci[0] ?? m.auroc, hi: m.auroc_ci[1] ?? m.auroc }] : [];
  });
  if (iv.length) {
    const fig = await charter.figure(
      intervalChart(iv, { title: 'AUROC per split', yTitle: 'AUROC', groupTitle: 'split' }),
      'AUROC with 95% bootstrap interval on validation, test and (when present) the shifted environment.',
    );
    const shift = metrics.splits.shift;
    const drop = shift && shift.auroc != null && metrics.splits.test.auroc != null ? `Shift − test AUROC: ${fmtSigned(shift.auroc - metrics.splits.test.auroc)}.` : 'No shift split in this run.';
    sections.push({ id: id('shift'), title: 'Robustness under shift', body: `<div class="charts">${fig}</div>` + note(drop) });
  }

  // Missingness patterns and their effects.
  const pats = patternRows(run);
  const modalities = run.manifest.modalities.map((m) => m.name);
  let body = '';
  if (pats) {
    body += `<div class="charts">${await charter.figure(
      patternMapChart(pats.rows, modalities, pats.overall),
      `Patterns (rows) × modalities observed, patient count and label rate (dashed: overall rate ${fmt(pats.overall)}); source: ${pats.source}${pats.rows.length > MAX_CHART_PATTERNS ? `; the ${MAX_CHART_PATTERNS} most frequent of ${pats.rows.length} patterns` : ''}.`,
    )}</div>`;
  }
  if (run.insights && run.insights.patterns.length) {
    const ins = [...run.insights.patterns].sort((a, b) => b.count - a.count);
    body += `<div class="charts">${await charter.figure(
      patternEffectsChart(ins),
      deconfounded(run)
        ? 'Observed association of each pattern with the outcome (label rate − overall rate) next to the model’s pattern effect after back-door adjustment (mean σ(h(c, e_m)) − mean p_do). A large observed bar with a small adjusted one is a shortcut the model does not take.'
        : 'Observed association of each pattern with the outcome (label rate − overall rate) next to the model’s pattern effect (its mean risk for the pattern’s patients − its mean risk). This model has no deconfounder (not asked for, or its gate found nothing to adjust), so the pattern reaches its risk unadjusted.',
    )}</div>`;
    body += table(
      ['pattern', 'patients', 'label rate', 'observed effect', 'model effect', 'spurious-branch accuracy'],
      ins.map((p) => [p.mask, p.count, fmt(p.label_rate), fmtSigned(p.observed_effect), fmtSigned(p.model_effect), fmt(p.spurious_accuracy ?? null)]),
    );
  }
  if (metrics.per_pattern.test?.length) body += patternMetricsTable(metrics.per_pattern.test, 'Per-pattern metrics on test');
  if (metrics.per_pattern.shift?.length) body += patternMetricsTable(metrics.per_pattern.shift, 'Per-pattern metrics on shift');
  sections.push({ id: id('patterns'), title: 'Missingness patterns', body: body || note('No pattern information (insights.json and pattern masks absent).') });

  if (run.history && run.history.length) {
    sections.push({
      id: id('history'),
      title: 'Training history',
      body: `<div class="charts">${await charter.figure(historyChart(run.history), 'Training loss and validation metrics per epoch.')}</div>`,
    });
  }
  return sections;
}

/** Whether the run's model has the deconfounder (asked for and kept by its gate). */
function deconfounded(run: RunData): boolean {
  const d = (run.manifest as { config?: { model?: { debias?: string } } }).config?.model?.debias;
  return d === 'deconfound' || d === 'full';
}
