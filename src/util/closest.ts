// "Did you mean": the one name a typo most likely meant.

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** Longest name compared: the distance table is the two names' lengths multiplied (60,000 × 60,000 ran out of memory). */
const MAX_NAME = 256;

/** The one closest candidate within 2 edits (and under half the word), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > MAX_NAME) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    // More than 2 characters longer or shorter is more than 2 edits away.
    if (Math.abs(c.length - word.length) > 2) continue;
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) { best = c; bestD = dist; }
  }
  return best !== undefined && bestD > 0 && bestD <= 2 && bestD < word.length / 2 ? best : undefined;
}
