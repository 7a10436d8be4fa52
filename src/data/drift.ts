// Signs that patients come from elsewhere than the training split (another hospital, unit or period), read from
// the model's standardised arrays: tabular categories never seen in training, and numbers whose median sits many
// training SDs away (another unit). Used by evaluate --spec and for a spec's own shift split (inspect, train).
/**
 * Tabular categories the run never saw in training (another hospital's site codes, a new ward name): those patients
 * are scored with the column's '<other>' feature, which the model barely learnt. Named per column with the share.
 */
export function unseenCategoryWarnings(modalities: { name: string; type: string; shape: number[]; features?: string[] }[], values: Record<string, Float32Array>, n: number): string[] {
  const out: string[] = [];
  for (const m of modalities) {
    if (m.type !== 'tabular' || !m.features || !values[m.name] || n === 0) continue;
    const D = m.features.length;
    const v = values[m.name];
    m.features.forEach((f, j) => {
      if (!f.endsWith('=<other>')) return;
      let k = 0;
      for (let i = 0; i < n; i++) if (v[i * D + j] > 0) k++;
      if (k > 0)
        out.push(`modality '${m.name}': ${k} of ${n} patients (${((100 * k) / n).toFixed(1)}%) have a '${f.slice(0, -'=<other>'.length)}' value never seen in training; they are scored as '<other>', which the model learnt little about (cdmm predict names the values per patient)`);
    });
  }
  return out;
}

/** The median standardised value of a variable this far from 0 (training SDs) reads as another unit or scale. */
const SHIFT_SDS = 5;

/**
 * Numeric variables whose values here sit far from training's (creatinine in µmol/L where training had mg/dL:
 * a thousand SDs): the model scores them as given, so a unit mismatch silently wrecks the external figures.
 * Read from the standardised arrays: time-series values where observed, tabular numbers where not missing.
 */
export function scaleShiftWarnings(modalities: { name: string; type: string; shape: number[]; features?: string[] }[], values: Record<string, Float32Array>, mask: Uint8Array, n: number): string[] {
  const out: string[] = [];
  const K = modalities.length;
  const median = (xs: number[]) => { const s = xs.sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const say = (m: string, v: string, z: number, count: number) =>
    out.push(`modality '${m}': '${v}' has a median ${Math.abs(z) < 1e4 ? Math.abs(z).toFixed(0) : Math.abs(z).toExponential(1)} training standard deviations ${z > 0 ? 'above' : 'below'} the training mean here (${count} values): another unit or scale than in training? The model scores the values as given`);
  modalities.forEach((m, k) => {
    const v = values[m.name];
    if (!v || !m.features || n === 0) return;
    if (m.type === 'timeseries' && m.shape.length === 2) {
      const [T, C] = m.shape;
      const V = C / 3;
      for (let j = 0; j < V; j++) {
        const zs: number[] = [];
        for (let i = 0; i < n; i++) for (let b = 0; b < T; b++) if (v[(i * T + b) * C + V + j] === 1) zs.push(v[(i * T + b) * C + j]);
        if (zs.length >= 5) { const z = median(zs); if (Math.abs(z) > SHIFT_SDS) say(m.name, m.features[j], z, zs.length); }
      }
    } else if (m.type === 'tabular') {
      const D = m.features.length;
      m.features.forEach((f, j) => {
        const miss = m.features!.indexOf(`${f}:missing`);
        if (miss < 0) return; // numeric columns are those with a missing indicator
        const zs: number[] = [];
        for (let i = 0; i < n; i++) if (mask[i * K + k] === 1 && v[i * D + miss] === 0) zs.push(v[i * D + j]);
        if (zs.length >= 5) { const z = median(zs); if (Math.abs(z) > SHIFT_SDS) say(m.name, f, z, zs.length); }
      });
    }
  });
  return out;
}


/** Both checks on a spec's own shift split, each warning marked as the shift split's (none without such a split). */
export function shiftSplitWarnings(modalities: { name: string; type: string; shape: number[]; features?: string[] }[], shift: { ids: unknown[]; values: Record<string, Float32Array>; mask: Uint8Array } | undefined): string[] {
  if (!shift || shift.ids.length === 0) return [];
  const n = shift.ids.length;
  return [...unseenCategoryWarnings(modalities, shift.values, n), ...scaleShiftWarnings(modalities, shift.values, shift.mask, n)].map((w) => `the shift split: ${w}`);
}
