// Predictions as files: JSON (the full nested records) or CSV (one row per patient, per-modality columns).
import type { ModalityInfo } from '../data/types.js';
import type { PredictionSet } from './types.js';

export function predictionsJson(set: PredictionSet, run: { dir: string; dataset: string }): string {
  return JSON.stringify({ run: run.dir, dataset: run.dataset, n: set.predictions.length, ...(set.excluded ? { excluded: set.excluded } : {}), predictions: set.predictions }, null, 1) + '\n';
}

/**
 * RFC 4180 quoting, only when needed. Text that a spreadsheet would run as a formula (=, +, -, @ first, and not a
 * number) gets a leading apostrophe: ids come from whoever sent the patients.
 */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  // (the full-width ＝＋－＠ too: some spreadsheet locales run them as the ASCII ones)
  if (typeof v === 'string' && /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(s) && !Number.isFinite(Number(s))) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Columns: id, [label], p_do, p_factual, mask, pattern, modalities_used (';'-separated), then per modality m:
 * m:observed (0/1), m:cf_p_do (p_do with m flipped), m:cf_pattern, m:contribution; last, notes ('; '-separated:
 * what of the patient's data the model could not use). Empty cell = undefined.
 */
export function predictionsCsv(set: PredictionSet, modalities: ModalityInfo[]): string {
  const withLabel = set.predictions.some((p) => p.label !== undefined);
  const head = ['id', ...(withLabel ? ['label'] : []), 'p_do', 'p_factual', 'mask', 'pattern', 'modalities_used'];
  for (const m of modalities) head.push(`${m.name}:observed`, `${m.name}:cf_p_do`, `${m.name}:cf_pattern`, `${m.name}:contribution`);
  head.push('notes');
  const lines = [head.map(cell).join(',')];
  for (const p of set.predictions) {
    const row: unknown[] = [p.id, ...(withLabel ? [p.label] : []), p.p_do, p.p_factual, p.mask, p.pattern, p.modalities_used.join(';')];
    for (const m of modalities) {
      const x = p.modalities[m.name];
      row.push(x.observed ? 1 : 0, x.counterfactual?.p_do, x.counterfactual?.pattern, x.contribution);
    }
    row.push(p.notes?.join('; '));
    lines.push(row.map(cell).join(','));
  }
  return lines.join('\n') + '\n';
}
