// What GET /v1/model says about a run: format, versions, configuration, modalities and the input they read,
// patterns, metrics, where typical values come from, how patients are transformed and scored.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonText } from '../util/files.js';
import { recordTableTypes } from '../data/records.js';
import type { Spec } from '../data/spec.js';
import type { RunManifest } from '../run/run-io.js';
import type { Typical } from './typical.js';

export interface ServingFacts {
  /** 'per-patient' for backbones whose output depends on the batch (M3Care, MUSE), else 'batched'. */
  scoring: 'per-patient' | 'batched';
  /** How JSON records become arrays: the compiled transform, or the SQL path with the reason. */
  transform: { path: 'compiled' } | { path: 'sql'; reason: string };
}

export function buildSummary(runDir: string, m: RunManifest, spec: Spec, typical: Typical, facts: ServingFacts): Record<string, unknown> {
  const metricsPath = join(runDir, 'metrics.json');
  let metrics: unknown = null;
  if (existsSync(metricsPath)) {
    try {
      metrics = (JSON.parse(readJsonText(metricsPath)) as { splits?: unknown }).splits ?? null;
    } catch {
      metrics = null;
    }
  }
  // The types records are read with (numeric value columns as DOUBLE: recordTableTypes), which is what a client sends.
  const st = { tableTypes: recordTableTypes(spec, (m.state as { tableTypes: Record<string, Record<string, string>> }).tableTypes) };
  return {
    format: m.format,
    dataset: m.dataset,
    created: m.created,
    versions: { cdmm: m.cdmm_version, libtorch: m.libtorch_version },
    config: { backbone: m.config.backbone, debias: m.config.debias, seed: m.config.seed, model: m.config.model, best_epoch: m.config.best_epoch },
    modalities: m.modalities.map((x) => ({ name: x.name, type: x.type, shape: x.shape, features: x.features, input: spec.modalities[x.name] })),
    input: {
      tables: Object.fromEntries(Object.entries(spec.tables).map(([n, t]) => [n, { id: t.id ?? null, time: t.time ?? null, columns: st.tableTypes[n] }])),
      cohort_table: spec.cohort.table,
      index_time: spec.cohort.index_time,
    },
    patterns: m.patterns,
    // How p_do and p_factual are calibrated (fitted on validation); 'none' for runs before cdmm-model/3.
    calibration: m.calibration ?? { method: 'none' },
    metrics,
    // Not the note itself to HTTP clients: a failed rebuild's message may quote the file at spec_path.
    typical_values: typical.note ? { source: typical.source, note: typical.reason ?? typical.note } : { source: typical.source },
    scoring: facts.scoring,
    transform: facts.transform,
  };
}
