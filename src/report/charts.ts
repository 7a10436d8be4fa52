import type { TopLevelSpec } from 'vega-lite';
import type { CalibrationBin, PrPoint, RocPoint } from '../eval/curves.js';

/**
 * Vega-lite specifications, one builder per chart. Builders take plain rows (computed elsewhere) and inline
 * them, so a spec renders with no data loading and no network.
 */

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const W = 300;
const H = 260;
/** Shared look: no heavy frame, readable axis titles. */
const config = { view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelLimit: 260 } };
const unit = { type: 'quantitative' as const, scale: { domain: [0, 1] } };
/** y = x reference line, for ROC and calibration charts. */
const diagonal = {
  data: { values: [{ a: 0, b: 0 }, { a: 1, b: 1 }] },
  mark: { type: 'line' as const, strokeDash: [4, 4], color: '#999' },
  encoding: { x: { field: 'a', type: 'quantitative' as const }, y: { field: 'b', type: 'quantitative' as const } },
};

export interface CurveSeries<T> {
  /** Legend label, e.g. "test (AUROC 0.81)". */
  label: string;
  points: T[];
}

const rows = <T extends object>(series: CurveSeries<T>[]) =>
  series.flatMap((s) => s.points.map((p, i) => ({ ...p, threshold: Number.isFinite((p as { threshold?: number }).threshold) ? (p as { threshold?: number }).threshold : null, series: s.label, i })));

export function rocChart(series: CurveSeries<RocPoint>[], title = 'ROC curve'): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title,
    width: W,
    height: H,
    config,
    layer: [
      diagonal,
      {
        data: { values: rows(series) },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'fpr', ...unit, title: 'False positive rate' },
          y: { field: 'tpr', ...unit, title: 'True positive rate' },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom-right' } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
  };
}

export function prChart(series: CurveSeries<PrPoint>[], title = 'Precision–recall curve'): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title,
    width: W,
    height: H,
    config,
    data: { values: rows(series) },
    // Precision at a threshold holds for the recall gained at it: a step that rises before the point.
    mark: { type: 'line', strokeWidth: 2, interpolate: 'step-before' },
    encoding: {
      x: { field: 'recall', ...unit, title: 'Recall' },
      y: { field: 'precision', ...unit, title: 'Precision' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-right' } },
      order: { field: 'i', type: 'quantitative' },
    },
  };
}

export function calibrationChart(series: CurveSeries<CalibrationBin>[], title = 'Calibration'): TopLevelSpec {
  const values = series.flatMap((s) => s.points.map((b) => ({ ...b, series: s.label })));
  const enc = {
    x: { field: 'mean_p', ...unit, title: 'Mean predicted risk (bin)' },
    y: { field: 'observed', ...unit, title: 'Observed rate' },
    color: { field: 'series', type: 'nominal' as const, title: null, legend: { orient: 'top-left' as const } },
  };
  return {
    $schema: SCHEMA,
    title,
    width: W,
    height: H,
    config,
    layer: [
      diagonal,
      { data: { values }, mark: { type: 'line', clip: true }, encoding: enc },
      {
        data: { values },
        mark: { type: 'point', filled: true },
        encoding: {
          ...enc,
          size: { field: 'count', type: 'quantitative', title: 'patients', legend: null },
          tooltip: [{ field: 'count', type: 'quantitative' }],
        },
      },
    ],
  };
}

export interface PatternRow {
  mask: string;
  count: number;
  label_rate: number;
}

/**
 * Which modalities each missingness pattern has (heat-map), next to how many patients have it and their label
 * rate (bars, with the overall rate as a rule). Patterns are sorted by count.
 */
/** Most patterns a chart shows (the most frequent): each is one entry of vega's sort expression, which overflowed
 * its parser's stack at 2,000 distinct masks of an edited predictions.json. */
export const MAX_CHART_PATTERNS = 64;

export function patternMapChart(patterns: PatternRow[], modalities: string[], overallRate: number, title = 'Missingness patterns'): TopLevelSpec {
  const sorted = [...patterns].sort((a, b) => b.count - a.count).slice(0, MAX_CHART_PATTERNS);
  const order = sorted.map((p) => p.mask);
  const names = modalities.length ? modalities : Array.from({ length: sorted[0]?.mask.length ?? 0 }, (_, k) => `m${k + 1}`);
  const cells = sorted.flatMap((p) => names.map((m, k) => ({ mask: p.mask, modality: m, k, state: p.mask[k] === '1' ? 'observed' : 'missing' })));
  const height = Math.max(60, 16 * sorted.length);
  const y = { field: 'mask', type: 'nominal' as const, sort: order, title: 'pattern' };
  const yNoAxis = { ...y, axis: null };
  return {
    $schema: SCHEMA,
    title,
    config,
    hconcat: [
      {
        width: Math.max(80, 22 * names.length),
        height,
        data: { values: cells },
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: { field: 'modality', type: 'nominal', sort: names, title: 'modality', axis: { labelAngle: -40 } },
          y,
          color: {
            field: 'state',
            type: 'nominal',
            scale: { domain: ['observed', 'missing'], range: ['#2b6cb0', '#e2e8f0'] },
            title: null,
            legend: { orient: 'bottom' },
          },
        },
      },
      {
        width: 160,
        height,
        data: { values: sorted },
        mark: { type: 'bar', color: '#718096' },
        encoding: { x: { field: 'count', type: 'quantitative', title: 'patients' }, y: yNoAxis },
      },
      {
        width: 160,
        height,
        layer: [
          {
            data: { values: sorted },
            mark: { type: 'bar', color: '#c05621' },
            encoding: { x: { field: 'label_rate', type: 'quantitative', title: 'label rate', scale: { domain: [0, 1] } }, y: yNoAxis },
          },
          {
            data: { values: [{ rate: overallRate }] },
            mark: { type: 'rule', color: '#1a202c', strokeDash: [3, 3] },
            encoding: { x: { field: 'rate', type: 'quantitative' } },
          },
        ],
      },
    ],
  };
}

export interface EffectRow {
  mask: string;
  observed_effect: number;
  model_effect: number;
}

/** Per pattern: the raw association (label rate − overall rate) next to the model's effect after adjustment. */
export function patternEffectsChart(effects: EffectRow[], title = 'Pattern effects: observed vs after adjustment'): TopLevelSpec {
  const OBS = 'observed (label rate − overall)';
  const ADJ = 'model effect after adjustment';
  const order = effects.map((e) => e.mask);
  const values = effects.flatMap((e) => [
    { mask: e.mask, kind: OBS, value: e.observed_effect },
    { mask: e.mask, kind: ADJ, value: e.model_effect },
  ]);
  return {
    $schema: SCHEMA,
    title,
    width: 380,
    height: Math.max(60, 22 * effects.length),
    config,
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'mask', type: 'nominal', sort: order, title: 'pattern' },
          yOffset: { field: 'kind', type: 'nominal', sort: [OBS, ADJ] },
          x: { field: 'value', type: 'quantitative', title: 'effect on P(Y = 1)' },
          color: { field: 'kind', type: 'nominal', sort: [OBS, ADJ], scale: { range: ['#a0aec0', '#2b6cb0'] }, title: null, legend: { orient: 'bottom' } },
          tooltip: [{ field: 'mask' }, { field: 'kind' }, { field: 'value', type: 'quantitative', format: '.3f' }],
        },
      },
      { data: { values: [{ z: 0 }] }, mark: { type: 'rule', color: '#1a202c' }, encoding: { x: { field: 'z', type: 'quantitative' } } },
    ],
  };
}

export interface HistoryRow {
  epoch: number;
  train_loss: number | null;
  val_auroc?: number | null;
  val_auprc?: number | null;
}

/** Training loss and validation metrics per epoch, side by side. */
export function historyChart(history: HistoryRow[], title = 'Training history'): TopLevelSpec {
  const loss = history.filter((h) => h.train_loss != null).map((h) => ({ epoch: h.epoch, loss: h.train_loss }));
  const val = history.flatMap((h) => [
    ...(h.val_auroc != null ? [{ epoch: h.epoch, metric: 'val AUROC', value: h.val_auroc }] : []),
    ...(h.val_auprc != null ? [{ epoch: h.epoch, metric: 'val AUPRC', value: h.val_auprc }] : []),
  ]);
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 } };
  return {
    $schema: SCHEMA,
    title,
    config,
    hconcat: [
      {
        width: W,
        height: 200,
        data: { values: loss },
        mark: { type: 'line', point: true, color: '#4a5568' },
        encoding: { x, y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false } } },
      },
      {
        width: W,
        height: 200,
        data: { values: val },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: 'validation metric', scale: { zero: false } },
          color: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom' } },
        },
      },
    ],
  };
}

export interface IntervalRow {
  /** Category on the x axis (a split, or a debias setting). */
  group: string;
  /** Second-level category drawn side by side within a group (e.g. test vs shift). */
  series: string;
  value: number;
  lo: number;
  hi: number;
  /** Optional facet (e.g. backbone). */
  facet?: string;
}

/**
 * Points with error bars: for a run, AUROC per split with its bootstrap CI; for a benchmark, AUROC mean ± std per
 * backbone (facet) × debias (group) on test and shift (series).
 */
export function intervalChart(values: IntervalRow[], opts: { title: string; yTitle: string; groupTitle: string }): TopLevelSpec {
  const groups = [...new Set(values.map((v) => v.group))];
  const series = [...new Set(values.map((v) => v.series))];
  const enc = {
    x: { field: 'group', type: 'nominal' as const, sort: groups, title: opts.groupTitle, axis: { labelAngle: 0 } },
    xOffset: { field: 'series', type: 'nominal' as const, sort: series },
    // One series needs no legend (the y title names it).
    color: { field: 'series', type: 'nominal' as const, sort: series, title: null, legend: series.length > 1 ? { orient: 'bottom' as const } : null },
  };
  const layer = [
    {
      mark: { type: 'rule' as const, strokeWidth: 2 },
      encoding: { ...enc, y: { field: 'lo', type: 'quantitative' as const, scale: { zero: false }, title: opts.yTitle }, y2: { field: 'hi' } },
    },
    {
      mark: { type: 'point' as const, filled: true, size: 70 },
      encoding: {
        ...enc,
        y: { field: 'value', type: 'quantitative' as const },
        tooltip: [{ field: 'group' }, { field: 'series' }, { field: 'value', type: 'quantitative' as const, format: '.3f' }, { field: 'lo', type: 'quantitative' as const, format: '.3f' }, { field: 'hi', type: 'quantitative' as const, format: '.3f' }],
      },
    },
  ];
  const width = Math.max(160, 60 * groups.length);
  if (values.some((v) => v.facet !== undefined)) {
    return {
      $schema: SCHEMA,
      title: opts.title,
      config,
      data: { values },
      facet: { column: { field: 'facet', type: 'nominal', title: null } },
      spec: { width, height: 220, layer },
    };
  }
  return { $schema: SCHEMA, title: opts.title, config, data: { values }, width, height: 220, layer };
}

export interface ShiftPoint {
  backbone: string;
  debias: string;
  run: string;
  test: number;
  shift: number;
}

/** Each run's AUROC on the i.i.d. test split against the shifted split; below the diagonal = lost under shift. */
export function shiftScatterChart(points: ShiftPoint[], title = 'AUROC under shift, per run'): TopLevelSpec {
  const all = points.flatMap((p) => [p.test, p.shift]);
  const lo = Math.max(0, Math.floor((Math.min(...all) - 0.02) * 50) / 50);
  const hi = Math.min(1, Math.ceil((Math.max(...all) + 0.02) * 50) / 50);
  const dom = { domain: [lo, hi], zero: false };
  return {
    $schema: SCHEMA,
    title,
    width: W,
    height: H,
    config,
    layer: [
      {
        data: { values: [{ a: lo, b: lo }, { a: hi, b: hi }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999', clip: true },
        encoding: { x: { field: 'a', type: 'quantitative', scale: dom }, y: { field: 'b', type: 'quantitative', scale: dom } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 80, opacity: 0.85 },
        encoding: {
          x: { field: 'test', type: 'quantitative', scale: dom, title: 'test AUROC' },
          y: { field: 'shift', type: 'quantitative', scale: dom, title: 'shift AUROC' },
          color: { field: 'debias', type: 'nominal', title: 'debias' },
          shape: { field: 'backbone', type: 'nominal', title: 'backbone' },
          tooltip: [{ field: 'run' }, { field: 'test', type: 'quantitative', format: '.3f' }, { field: 'shift', type: 'quantitative', format: '.3f' }],
        },
      },
    ],
  };
}
