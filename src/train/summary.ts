// The short human summary printed after `cdmm train`.
import type { MetricSet } from '../eval/metrics.js';
import type { ReferenceMetrics } from '../eval/reference.js';
import { describeCalibration, type CalibrationRecord } from '../models/calibrator.js';
import type { RunOutcome } from './run.js';

const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

export function formatMetricLine(name: string, m: MetricSet & { ece_raw?: number }): string {
  return `  ${name.padEnd(8)} n=${String(m.n).padEnd(6)} AUROC ${f(m.auroc)} [${f(m.auroc_ci[0])}, ${f(m.auroc_ci[1])}]  ` +
    `AUPRC ${f(m.auprc)} [${f(m.auprc_ci[0])}, ${f(m.auprc_ci[1])}]  Brier ${m.brier.toFixed(4)}  ECE ${m.ece.toFixed(4)}` +
    (m.ece_raw !== undefined ? ` (uncalibrated ${m.ece_raw.toFixed(4)})` : '');
}

/** The calibration line of the train and evaluate summaries. */
export function formatCalibrationLine(c: CalibrationRecord): string {
  return `  calibration of the served risk (fitted on validation): ${describeCalibration(c)}`;
}

/** The reference score next to the model on the same patients of one split. */
export function formatReferenceLine(name: string, r: ReferenceMetrics): string {
  const ece = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
  const d = r.delong ? `; model − reference AUROC ${r.delong.diff >= 0 ? '+' : ''}${r.delong.diff.toFixed(3)} (DeLong p ${r.delong.p.toFixed(3)})` : '';
  return `  ${name.padEnd(8)} ${r.name} on the ${r.covered} of ${r.n} patients with a score: AUROC ${f(r.reference.auroc)} [${f(r.reference.auroc_ci[0])}, ${f(r.reference.auroc_ci[1])}]  ` +
    `AUPRC ${f(r.reference.auprc)}  ECE ${ece(r.reference.ece)}; the model on them: AUROC ${f(r.model.auroc)}  AUPRC ${f(r.model.auprc)}  ECE ${ece(r.model.ece)}${d}`;
}

export function formatRunSummary(r: RunOutcome): string {
  const c = r.manifest.config;
  const last = r.history[r.history.length - 1];
  const lines = [
    `run ${r.dir}: ${r.manifest.dataset}, backbone ${c.backbone}, debias ${c.debias}${builtAs(c)}, seed ${c.seed}`,
    `  best epoch ${c.best_epoch} of ${last?.epoch ?? 0}${c.stopped_early ? ' (stopped early)' : c.best_epoch === last?.epoch && c.best_epoch > 1 ? ' (the last: still improving, more --epochs may help)' : ''}, ` +
      `${r.manifest.patterns.masks.length} missingness patterns, positive weight ${c.pos_weight.toFixed(2)}`,
    formatCalibrationLine(r.manifest.calibration ?? { method: 'none' }),
  ];
  for (const [name, m] of Object.entries(r.metrics.splits)) if (m) lines.push(formatMetricLine(name, m));
  for (const [name, ref] of Object.entries(r.metrics.reference ?? {})) if (ref) lines.push(formatReferenceLine(name, ref));
  return lines.join('\n');
}

/** What the debiasing parts left of the model asked for: the deconfounder out (its gate), the dual branch's gate off. */
function builtAs(c: { debias: string; model: { debias: string }; debias_parts?: Record<string, Record<string, unknown>> }): string {
  const parts = c.debias_parts ?? {};
  const out: string[] = [];
  if ((c.debias === 'full' || c.debias === 'deconfound') && parts.deconfound?.on === false)
    out.push(Number(parts.deconfound?.patterns) === 1 ? 'no deconfounder: one missingness pattern' : 'no deconfounder: the missingness pattern did not predict the label');
  if (parts.dual && parts.dual.on === false) out.push('dual branch off: no shortcut found');
  if (c.model.debias === 'none' && c.debias !== 'none') out.push('so the model is the plain one');
  return out.length ? ` (${out.join('; ')})` : '';
}
