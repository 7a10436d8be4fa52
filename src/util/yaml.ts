// YAML from files the user names (specs, predict inputs): parsed with a cap on alias expansion, so a small file
// cannot expand into a huge document ("billion laughs"), and every parse failure is a one-line CdmmError.
import { parse } from 'yaml';
import { CdmmError } from './errors.js';

/** Aliases (*name) a document may resolve; specs rarely use any. */
const MAX_ALIASES = 100;

export function parseYamlText(text: string, file: string): unknown {
  try {
    return parse(text, { maxAliasCount: MAX_ALIASES, prettyErrors: true });
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/alias count|resource exhaustion/i.test(msg))
      throw new CdmmError(`${file}: YAML error: more than ${MAX_ALIASES} alias expansions (*name); a spec needs few, if any`);
    // The parser's first line ends "at line L, column C:" before a multi-line excerpt: show the line itself instead.
    const first = msg.split('\n')[0].replace(/:\s*$/, '');
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const line = pos ? text.split(/\r?\n/)[pos.line - 1] : undefined;
    const shown = line === undefined ? '' : `; the line reads: ${JSON.stringify(line.length > 160 ? `${line.slice(0, 157)}...` : line)}`;
    throw new CdmmError(`${file}: YAML error: ${first}${shown}`);
  }
}
