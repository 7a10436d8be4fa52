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
    throw new CdmmError(`${file}: YAML error: ${msg.split('\n')[0]}`);
  }
}
