// What `cdmm inspect` reports: cohort size, exclusions, label rate, split sizes, per-modality availability and
// width, and the missingness-pattern table with warnings.
import { shiftSplitWarnings } from './drift.js';
import type { PreparedDataset, SplitArrays } from './types.js';

export interface PatternRow {
  mask: string;
  count: number;
  label_rate: number;
}

export interface DatasetSummary {
  dataset: string;
  patients: number;
  label_rate: number;
  splits: Record<string, number>;
  /** Patients with the outcome in each split (a handful in validation makes early stopping and calibration noisy). */
  split_positives: Record<string, number>;
  modalities: Record<string, { type: string; available: number; dim: number; shape: number[] }>;
  patterns: PatternRow[];
  candidates: number;
  exclusions: Record<string, number>;
  warnings: string[];
  /** With cohort.patient: the patient column and the number of distinct patients behind the rows. */
  patient_key?: { column: string; distinct: number };
  /** With spec.reference: its name and the share of rows that have it. */
  reference?: { name: string; available: number };
  /** Per modality table: its distinct ids and how many are cohort rows (the rest of its rows are not used). */
  table_ids?: Record<string, { ids: number; in_cohort: number; link?: string }>;
}

/** Patterns whose label rate is this many binomial standard errors from the overall rate, and at least
 *  1.5× or ≤ 1/1.5 of it, are flagged. */
const PATTERN_Z = 4;
const PATTERN_RATIO = 1.5;
/** Fewer patients than this in a pattern are not flagged: one patient with the outcome would be "100%". */
const PATTERN_MIN = 20;
const RARE_MODALITY = 0.01;

/** A modality (almost) nobody has: the model cannot learn from it, whatever the rest of the data. */
function availabilityWarning(name: string, available: number): string | undefined {
  if (available === 0)
    return `modality '${name}' is missing for every patient (its table is empty, none of its rows lies in the modality's window, its prefix starts no code of the table, or none of its listed variables or codes occurs): the model cannot learn from it`;
  if (available < RARE_MODALITY) return `modality '${name}' is present for only ${(100 * available).toFixed(2)}% of patients (< 1%)`;
  return undefined;
}

/** Listed time-series variables that no training patient has: a misspelt name or an empty window. */
function unseenWarning(name: string, unseen: string[] | undefined): string[] {
  if (!unseen?.length) return [];
  const shown = unseen.slice(0, 5).map((v) => JSON.stringify(v)).join(', ');
  const more = unseen.length > 5 ? ` and ${unseen.length - 5} more` : '';
  return [`modality '${name}': listed variable${unseen.length === 1 ? '' : 's'} ${shown}${more} occur${unseen.length === 1 ? 's' : ''} in no training patient's window: ${unseen.length === 1 ? 'its' : 'their'} channels stay zero (check the names against the table)`];
}

/** Groups of values that are one value but for case and spaces ("M", "m ", "MALE" is not one of them). */
function caseGroups(values: readonly string[]): string[][] {
  const by = new Map<string, string[]>();
  for (const v of values) {
    const k = v.trim().toLowerCase();
    by.set(k, [...(by.get(k) ?? []), v]);
  }
  return [...by.values()].filter((g) => g.length > 1);
}

/**
 * What the fitted state says is likely a mistake in the data or the spec: listed time-series variables no training
 * patient has, and categories and codes that differ only in case or spaces (separate features, which is rarely
 * what the data means).
 */
function stateWarnings(ds: PreparedDataset): string[] {
  const mods = (ds.state as { modalities?: { name: string; type: string; state: unknown }[] } | undefined)?.modalities ?? [];
  const out: string[] = [];
  const say = (groups: string[][]) => {
    const shown = groups.slice(0, 3).map((g) => g.slice(0, 4).map((v) => JSON.stringify(v)).join(' / ')).join('; ');
    return `${shown}${groups.length > 3 ? `; and ${groups.length - 3} more` : ''}`;
  };
  for (const m of mods) {
    if (m.type === 'tabular') {
      for (const c of (m.state as { categorical?: { column: string; categories: string[] }[] }).categorical ?? []) {
        const g = caseGroups(c.categories);
        if (g.length)
          out.push(`modality '${m.name}': column '${c.column}' has categories that differ only in case or spaces (${say(g)}): each is a feature of its own; map them to one with the table's values (docs/SPEC.md) or clean the data`);
      }
    } else if (m.type === 'codes') {
      const vocabulary = (m.state as { vocabulary?: string[] }).vocabulary ?? [];
      if (!vocabulary.length)
        out.push(`modality '${m.name}': no code is held by min_count or more training patients, so its vocabulary is empty and every code counts as '<other>' (the modality says only whether a patient has any code): lower min_count, or check that the training patients have codes in the window`);
      const g = caseGroups(vocabulary);
      if (g.length) out.push(`modality '${m.name}': codes that differ only in case or spaces (${say(g)}) are counted as different codes; if they are one, set modalities.${m.name}.fold_case: true (or clean the data)`);
    } else if (m.type === 'timeseries') {
      out.push(...unseenWarning(m.name, (m.state as { unseen?: string[] }).unseen));
    }
  }
  return out;
}

/** The build's and the availability warnings (what `train` and `benchmark` print; `inspect` shows all warnings). */
export function modalityWarnings(ds: PreparedDataset): string[] {
  const K = ds.modalities.length;
  const avail = new Float64Array(K);
  let n = 0;
  for (const s of Object.values(ds.splits) as SplitArrays[]) {
    n += s.ids.length;
    for (let i = 0; i < s.mask.length; i++) avail[i % K] += s.mask[i];
  }
  return [
    ...(ds.cohort.warnings ?? []),
    ...ds.modalities.flatMap((m, k) => availabilityWarning(m.name, n ? avail[k] / n : 0) ?? []),
    ...stateWarnings(ds),
    // the shift split's categories never seen in training and numbers far from training's, as evaluate --spec says of another site
    ...shiftSplitWarnings(ds.modalities, ds.splits.shift),
  ];
}

export function summarize(ds: PreparedDataset): DatasetSummary {
  const K = ds.modalities.length;
  const all: SplitArrays[] = Object.values(ds.splits);
  const patients = all.reduce((a, s) => a + s.ids.length, 0);
  let pos = 0;
  const avail = new Float64Array(K);
  const patterns = new Map<string, { count: number; pos: number }>();
  for (const s of all) {
    for (let i = 0; i < s.ids.length; i++) {
      let key = '';
      for (let k = 0; k < K; k++) {
        const bit = s.mask[i * K + k];
        avail[k] += bit;
        key += bit ? '1' : '0';
      }
      const p = patterns.get(key) ?? { count: 0, pos: 0 };
      p.count++;
      p.pos += s.labels[i];
      pos += s.labels[i];
      patterns.set(key, p);
    }
  }
  const rate = patients ? pos / patients : 0;
  const modalities: DatasetSummary['modalities'] = {};
  // The warnings train and benchmark print, then inspect's own (the missingness-pattern ones).
  const warnings = modalityWarnings(ds);
  ds.modalities.forEach((m, k) => {
    const available = patients ? avail[k] / patients : 0;
    modalities[m.name] = { type: m.type, available, dim: m.shape.reduce((a, b) => a * b, 1), shape: m.shape };
  });
  const rows = [...patterns.entries()]
    .map(([mask, p]) => ({ mask, count: p.count, label_rate: p.count ? p.pos / p.count : 0 }))
    .sort((a, b) => b.count - a.count || (a.mask < b.mask ? -1 : 1));
  for (const r of rows) {
    const se = Math.sqrt((rate * (1 - rate)) / r.count);
    const z = se > 0 ? Math.abs(r.label_rate - rate) / se : 0;
    const ratio = rate > 0 ? r.label_rate / rate : 1;
    if (r.count >= PATTERN_MIN && z >= PATTERN_Z && (ratio >= PATTERN_RATIO || ratio <= 1 / PATTERN_RATIO))
      warnings.push(
        `pattern ${r.mask} (${r.count} patients) has label rate ${(100 * r.label_rate).toFixed(1)}% vs ${(100 * rate).toFixed(1)}% overall: ` +
          `which modalities are missing predicts the outcome here (informative missingness: a model can learn "was tested ⇒ at risk", a shortcut that breaks when testing practice changes; --debias full adjusts for it)`,
      );
  }
  const splits = Object.fromEntries(Object.entries(ds.splits).map(([k, s]) => [k, s.ids.length]));
  const split_positives = Object.fromEntries(Object.entries(ds.splits).map(([k, s]) => [k, Array.from(s.labels).filter((y) => y >= 0.5).length]));
  const valPos = split_positives.val ?? 0, valN = splits.val ?? 0;
  const fewer = Math.min(valPos, valN - valPos);
  if (valN > 0 && fewer === 0)
    warnings.push(`the validation split has ${valPos === 0 ? 'no patient with the outcome' : 'only patients with the outcome'} (${valN} patients): train will stop, as validation cannot pick an epoch with one class; give a larger split.fractions.val, another split.seed, or more patients`);
  else if (valN > 0 && fewer < 20)
    warnings.push(`the validation split has ${valPos} patients with the outcome and ${valN - valPos} without: early stopping, the gates' tests and the calibration rest on the smaller class, so expect noisy choices (a larger split.fractions.val, or more patients, helps)`);
  let reference: DatasetSummary['reference'];
  if (ds.reference) {
    let have = 0;
    for (const s of all) if (s.reference) for (const v of s.reference) if (!Number.isNaN(v)) have++;
    reference = { name: ds.reference.name, available: patients ? have / patients : 0 };
  }
  return {
    ...(ds.cohort.patient_key ? { patient_key: ds.cohort.patient_key } : {}),
    ...(ds.cohort.table_ids ? { table_ids: ds.cohort.table_ids } : {}),
    ...(reference ? { reference } : {}),
    dataset: ds.name,
    patients,
    label_rate: rate,
    splits,
    split_positives,
    modalities,
    patterns: rows,
    candidates: ds.cohort.candidates,
    exclusions: ds.cohort.exclusions,
    warnings,
  };
}

/** A share in percent; one under 0.1% but not zero keeps two significant digits (one positive in 2,092: 0.048%, not 0.0%). */
const pct = (x: number) => (x > 0 && x < 0.001 ? `${(100 * x).toPrecision(2)}%` : `${(100 * x).toFixed(1)}%`);

function table(header: string[], rows: string[][], right: boolean[]): string {
  const w = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const fmt = (r: string[]) => r.map((c, j) => (right[j] ? c.padStart(w[j]) : c.padEnd(w[j]))).join('  ').trimEnd();
  return [fmt(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(fmt)].join('\n');
}

/** The plain-text report: the pattern table first, since that is what a user should see first. */
export function formatSummary(s: DatasetSummary, modalityOrder: string[]): string {
  const out: string[] = [];
  const who = s.patient_key ? ` (rows; ${s.patient_key.distinct} distinct ${s.patient_key.column})` : '';
  out.push(`dataset ${s.dataset}: ${s.patients} patients${who}, label rate ${pct(s.label_rate)}`);
  if (s.reference) out.push(`reference score ${s.reference.name}: available for ${pct(s.reference.available)}`);
  out.push('');
  out.push(`missingness patterns (mask characters in modality order: ${modalityOrder.join(', ')})`);
  out.push(
    table(
      ['mask', ...modalityOrder.map((_, k) => String(k + 1)), 'count', 'share', 'label rate'],
      s.patterns.map((p) => [p.mask, ...p.mask.split('').map((c) => (c === '1' ? 'x' : '.')), String(p.count), pct(p.count / s.patients), pct(p.label_rate)]),
      [false, ...modalityOrder.map(() => false), true, true, true],
    ),
  );
  out.push('');
  out.push('modalities');
  out.push(
    table(
      ['#', 'name', 'type', 'available', 'shape', 'dim'],
      modalityOrder.map((n, k) => [String(k + 1), n, s.modalities[n].type, pct(s.modalities[n].available), s.modalities[n].shape.join('×'), String(s.modalities[n].dim)]),
      [true, false, false, true, false, true],
    ),
  );
  out.push('');
  out.push(`cohort: ${s.candidates} candidates, ${s.patients} included`);
  for (const [k, v] of Object.entries(s.exclusions)) out.push(`  excluded: ${k}: ${v}`);
  for (const [t, c] of Object.entries(s.table_ids ?? {}))
    if (c.in_cohort < c.ids)
      out.push(c.link
        ? `  table ${t}: ${c.ids - c.in_cohort} of its ${c.ids} ids reach no included cohort row through ${c.link} (their rows' patients were excluded, or are not in the cohort): their rows are not used`
        : `  table ${t}: ${c.ids - c.in_cohort} of its ${c.ids} ids are not cohort rows (excluded, or not in the cohort table): their rows are not used`);
  out.push(`splits: ${Object.entries(s.splits).map(([k, v]) => `${k} ${v}${s.split_positives?.[k] !== undefined ? ` (${s.split_positives[k]} with the outcome)` : ''}`).join(', ')}`);
  if (s.warnings.length) {
    out.push('');
    for (const w of s.warnings) out.push(`warning: ${w}`);
  }
  return out.join('\n');
}
