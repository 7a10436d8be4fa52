// A modality that (almost) no patient has is worth a word wherever a model is trained, not only in
// `cdmm inspect`: printed on stderr, so that --json output on stdout stays clean.
import { modalityWarnings } from '../data/summary.js';
import type { PreparedDataset } from '../data/types.js';
import { say } from '../util/say.js';

/** Prints each warning once (`seen` spans the datasets a benchmark prepares). */
export function printWarnings(ds: PreparedDataset, seen?: Set<string>): void {
  for (const w of modalityWarnings(ds)) {
    if (seen?.has(w)) continue;
    seen?.add(w);
    say('warning', `${ds.name}: ${w}`);
  }
}
