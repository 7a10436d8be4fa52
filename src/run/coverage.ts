// Which modalities new patients lack that training had: shared by evaluate --spec and predict (files), so both
// say when another source's data does not reach the model (names, codes, units that do not match).

/**
 * Modalities these patients all but lack though training had them (another hospital's lab names, `L50813` for
 * `50813`; codes of another version; times in another unit): the model then scores everyone as if never tested,
 * with no error anywhere. Said when a modality seen in ≥ 5% of training patients is seen in under a tenth of that.
 */
export function absentModalityWarnings(manifest: { modalities: { name: string; type: string; features?: string[] }[]; patterns: { masks: string[]; prior: number[] } }, mask: Uint8Array, n: number): { modality: string; message: string }[] {
  if (n === 0) return [];
  const K = manifest.modalities.length;
  const out: { modality: string; message: string }[] = [];
  manifest.modalities.forEach((m, k) => {
    const train = manifest.patterns.masks.reduce((a, s, j) => a + (s[k] === '1' ? manifest.patterns.prior[j] : 0), 0);
    let seen = 0;
    for (let i = 0; i < n; i++) seen += mask[i * K + k];
    if (train < 0.05 || seen / n >= train / 10) return;
    const what = m.type === 'timeseries' ? 'its variable names (the model reads e.g. ' : m.type === 'codes' ? 'its codes (the model knows e.g. ' : undefined;
    const names = what && m.features ? [...new Set(m.features.map((f) => f.replace(/:[a-z_]+$/, '')))].filter((f) => f !== '<other>').slice(0, 4) : [];
    out.push({ modality: m.name, message: `modality '${m.name}' is observed for ${seen} of ${n} patients (${((100 * seen) / n).toFixed(1)}%) against ${(100 * train).toFixed(1)}% in training: patients without it are scored as never tested; check that ${what && names.length ? `${what}${names.map((x) => JSON.stringify(x)).join(', ')}), ` : ''}its table and its times match the training data's` });
  });
  return out;
}

/**
 * Both kinds for new patients' arrays: the modalities they all but lack, then the time-series variables they all
 * but lack where the modality is present (evaluate --spec and predict from files say them).
 */
export function coverageWarnings(
  manifest: Parameters<typeof absentModalityWarnings>[0] & Parameters<typeof absentVariableWarnings>[0],
  arrays: { mask: Uint8Array; values: Record<string, Float32Array> },
  n: number,
): { modality: string; message: string }[] {
  const absent = absentModalityWarnings(manifest, arrays.mask, n);
  const skip = new Set(absent.map((w) => w.modality));
  return [...absent, ...absentVariableWarnings(manifest, arrays.values, n, skip)];
}

/** Per time-series modality, each variable's share of patients with an observation of it (in any bin). */
export function variableCoverage(modalities: { name: string; type: string; shape: number[]; features: string[] }[], values: Record<string, Float32Array>, n: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  if (n === 0) return out;
  for (const m of modalities) {
    if (m.type !== 'timeseries' || m.shape.length !== 2) continue;
    const [T, C] = m.shape;
    const V = C / 3;
    const x = values[m.name];
    if (!x || !Number.isInteger(V)) continue;
    const seen = new Uint32Array(V);
    for (let i = 0; i < n; i++)
      for (let v = 0; v < V; v++) {
        for (let b = 0; b < T; b++) if (x[(i * T + b) * C + V + v] > 0) { seen[v]++; break; }
      }
    out[m.name] = Object.fromEntries(m.features.slice(0, V).map((f, v) => [f, Math.round((seen[v] / n) * 1e6) / 1e6]));
  }
  return out;
}

/**
 * Time-series variables these patients all but lack though training had them (albumin measured for 12% of
 * training patients and for none at another hospital): imputed for everyone, with no word, while the modality as a
 * whole is present. The rule of absentModalityWarnings, per variable: ≥ 5% in training, under a tenth of that here.
 * Nothing for a modality that warning names already, or for a run without the training shares (before 2026-12-07).
 */
export function absentVariableWarnings(manifest: { modalities: { name: string; type: string; shape: number[]; features: string[] }[]; coverage?: Record<string, Record<string, number>> }, values: Record<string, Float32Array>, n: number, skip: Set<string> = new Set()): { modality: string; message: string }[] {
  if (!manifest.coverage || n === 0) return [];
  const here = variableCoverage(manifest.modalities, values, n);
  const out: { modality: string; message: string }[] = [];
  for (const m of manifest.modalities) {
    const train = manifest.coverage[m.name];
    if (!train || skip.has(m.name) || !here[m.name]) continue;
    const lost = Object.entries(train).filter(([v, share]) => share >= 0.05 && (here[m.name][v] ?? 0) < share / 10);
    if (!lost.length) continue;
    const shown = lost.slice(0, 4).map(([v, share]) => `${JSON.stringify(v)} (${(100 * (here[m.name][v] ?? 0)).toFixed(1)}% here, ${(100 * share).toFixed(1)}% in training)`).join(', ');
    out.push({ modality: m.name, message: `modality '${m.name}': ${lost.length} variable${lost.length === 1 ? '' : 's'} the model reads ${lost.length === 1 ? 'is' : 'are'} all but absent for these ${n} patients: ${shown}${lost.length > 4 ? ', …' : ''}; they are scored as not measured: check the variable names and units of this source` });
  }
  return out;
}
