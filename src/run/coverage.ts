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
