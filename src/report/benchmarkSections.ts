import { auroc } from '../eval/metrics.js';
import { referenceTable } from '../eval/reference.js';
import { rocCurve } from '../eval/curves.js';
import { intervalChart, rocChart, shiftScatterChart, type IntervalRow, type ShiftPoint } from './charts.js';
import type { Charter } from './charter.js';
import { escapeHtml, fmtMeanStd, fmtSigned, note, paragraph, table, type Section } from './html.js';
import { withPredictions, type BenchmarkData, type BenchmarkResult, type RunData } from './load.js';
import { runLabel, runSections } from './runSections.js';

/** The sections of a benchmark folder: the table, the AUROC chart, shift results, and the best configuration. */

const configKey = (backbone: string, debias: string) => `${backbone} + ${debias}`;

/**
 * Best configuration, picked on validation only (never on test or shift): the highest mean pattern-balanced
 * validation AUROC (the same weights for every configuration, so the testing habit does not win), else the plain
 * validation AUROC; none when the benchmark recorded no validation figures (older folders).
 */
export function bestResult(results: BenchmarkResult[]): { index: number; by: string } | null {
  const pb = results.length > 0 && results.every((r) => typeof r.val?.auroc_pb_mean === 'number');
  const plain = results.length > 0 && results.every((r) => typeof r.val?.auroc_mean === 'number');
  if (!pb && !plain) return null;
  const score = (r: BenchmarkResult) => (pb ? r.val!.auroc_pb_mean! : r.val!.auroc_mean);
  let index = 0;
  results.forEach((r, i) => { if (score(r) > score(results[index])) index = i; });
  return { index, by: pb ? 'pattern-balanced validation' : 'validation' };
}

/** A configuration's representative run: the seed with the median test AUROC (lower median on even counts). */
export function representativeRun(runs: RunData[], backbone: string, debias: string): RunData | undefined {
  const mine = runs.filter((r) => r.metrics.backbone === backbone && r.metrics.debias === debias);
  mine.sort((a, b) => (a.metrics.splits.test.auroc ?? 0) - (b.metrics.splits.test.auroc ?? 0));
  const rep = mine[Math.floor((mine.length - 1) / 2)];
  return rep && withPredictions(rep);
}

function seedCount(seeds: number | number[]): number {
  return Array.isArray(seeds) ? seeds.length : seeds;
}

function benchmarkTable(results: BenchmarkResult[], best: number): string {
  const hasShift = results.some((r) => r.shift);
  const hasEce = results.some((r) => typeof r.test.ece_mean === 'number');
  const headers = ['backbone', 'debias', 'seeds', 'test AUROC', 'test AUPRC', ...(hasEce ? ['test ECE'] : []), 'Δ test AUROC vs plain'];
  if (hasShift) headers.push('shift AUROC', 'shift AUPRC', ...(hasEce ? ['shift ECE'] : []), 'Δ shift AUROC vs plain');
  const rows = results.map((r) => {
    const d = r.delta_vs_plain;
    const n = seedCount(r.seeds);
    const ms = (m?: number | null, s?: number | null) => fmtMeanStd(m, s, 3, n);
    const delta = (x?: { auroc_mean: number; auroc_std: number }) => (x ? `${fmtSigned(x.auroc_mean)}${n < 2 ? '' : ` ± ${x.auroc_std.toFixed(3)}`}` : '—');
    const ece = (x?: { ece_mean?: number | null; ece_std?: number | null }) => (hasEce ? [ms(x?.ece_mean, x?.ece_std)] : []);
    const row: string[] = [r.backbone, r.debias, String(n), ms(r.test.auroc_mean, r.test.auroc_std), ms(r.test.auprc_mean, r.test.auprc_std), ...ece(r.test), delta(d?.test)];
    if (hasShift) row.push(ms(r.shift?.auroc_mean, r.shift?.auroc_std), ms(r.shift?.auprc_mean, r.shift?.auprc_std), ...ece(r.shift), delta(d?.shift));
    return row;
  });
  return table(headers, rows, { highlightRow: best });
}

export async function benchmarkSections(data: BenchmarkData, charter: Charter): Promise<Section[]> {
  const { results, dataset } = data.benchmark;
  const sections: Section[] = [];
  if (results.length === 0) return [{ id: 'benchmark', title: 'Benchmark', body: note('benchmark.json lists no results.') }];
  const best = bestResult(results);

  sections.push({
    id: 'benchmark',
    title: 'Benchmark',
    body:
      benchmarkTable(results, best?.index ?? -1) +
      note(`${results.every((r) => seedCount(r.seeds) < 2) ? 'One seed: no spread is shown' : 'Mean ± standard deviation over seeds'}; Δ = debiased − plain for the same backbone (mean ± std over seeds). ${best ? `Highlighted: best configuration by mean ${best.by} AUROC (picked on validation, never on test or shift).` : 'No validation figures recorded: no best configuration is picked.'}`),
  });
  const b = data.benchmark.bounds;
  const f3 = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(3) : 'n/a');
  const refs = [
    ...(b?.oracle ? [`oracle (AUROC of the true risk): test ${f3(b.oracle.test)}, shift ${f3(b.oracle.shift)}`] : []),
    ...(typeof b?.ceiling_shift === 'number' ? [`in-distribution ceiling (shift): ${f3(b.ceiling_shift)}${b.ceiling_model ? ` — ${b.ceiling_model}` : ''}`] : []),
    ...(typeof b?.shift_n === 'number' ? [`shift split: ${b.shift_n} patients, ${b.shift_positives ?? 'n/a'} positive`] : []),
  ];
  if (refs.length) sections[0].body += note(`References (computed once, on the splits of the first seed): ${refs.join('; ')}.`);
  const ref = referenceTable(results);
  if (ref) sections.push({ id: 'bench-reference', title: 'Reference score on the same patients', body: table(ref.head, ref.rows) + note(ref.caption) });

  const iv: IntervalRow[] = results.flatMap((r) =>
    (['test', 'shift'] as const).flatMap((s) => {
      const m = r[s];
      return m ? [{ facet: r.backbone, group: r.debias, series: s, value: m.auroc_mean, lo: m.auroc_mean - m.auroc_std, hi: m.auroc_mean + m.auroc_std }] : [];
    }),
  );
  const figs = [await charter.figure(intervalChart(iv, { title: `AUROC per backbone × debias (${dataset})`, yTitle: 'AUROC (mean ± std)', groupTitle: 'debias' }), 'Mean AUROC over seeds with ± 1 std error bars, on the i.i.d. test split and the shifted split.')];

  const shiftPts: ShiftPoint[] = data.runs.flatMap((r) => {
    const t = r.metrics.splits.test.auroc;
    const s = r.metrics.splits.shift?.auroc;
    return t != null && s != null ? [{ backbone: r.metrics.backbone, debias: r.metrics.debias, run: runLabel(r), test: t, shift: s }] : [];
  });
  if (shiftPts.length) figs.push(await charter.figure(shiftScatterChart(shiftPts), 'Each run’s test AUROC against its AUROC under shift; points below the dashed diagonal lose accuracy in the shift environment (another hospital, period or practice; in the simulator, the changed missingness and confounding).'));
  sections.push({ id: 'bench-auroc', title: 'AUROC on test and under shift', body: `<div class="charts">${figs.join('')}</div>` });

  // One representative run per configuration: test ROC curves overlaid.
  const reps = results.map((r) => ({ r, run: representativeRun(data.runs, r.backbone, r.debias) }));
  const roc = reps.flatMap(({ r, run }) => {
    const t = run?.predictions?.test;
    if (!t) return [];
    const pts = rocCurve(t.y, t.p);
    return pts.length ? [{ label: `${configKey(r.backbone, r.debias)} (${auroc(t.y, t.p).toFixed(3)})`, points: pts }] : [];
  });
  if (roc.length)
    sections.push({
      id: 'bench-roc',
      title: 'Test ROC per configuration',
      body: `<div class="charts">${await charter.figure(rocChart(roc, 'Test ROC, representative run per configuration'), 'Representative run = the seed with the median test AUROC of its configuration.')}</div>`,
    });

  const bestRes = best ? results[best.index] : undefined;
  const bestRun = best ? reps[best.index]?.run : undefined;
  if (bestRun && bestRes) {
    const sub = await runSections(bestRun, charter, 'best');
    sections.push({
      id: 'best',
      title: `Best configuration: ${configKey(bestRes.backbone, bestRes.debias)}`,
      body: paragraph(`Chosen by mean ${best!.by} AUROC. Details of its representative run (${runLabel(bestRun)}), folder ${bestRun.dir}.`) + sub.map((s) => `<h3 id="${escapeHtml(s.id)}">${escapeHtml(s.title)}</h3>${s.body}`).join('\n'),
    });
  } else if (bestRes) {
    sections.push({ id: 'best', title: 'Best configuration', body: note(`No run folder found for ${configKey(bestRes.backbone, bestRes.debias)}.`) });
  }
  return sections;
}
