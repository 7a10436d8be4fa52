// YAML from files the user names (specs, predict inputs): parsed with a cap on alias expansion, so a small file
// cannot expand into a huge document ("billion laughs"), and every parse failure is a one-line CdmmError.
import { isMap, isNode, isScalar, parseDocument, visit, type Document } from 'yaml';
import { CdmmError } from './errors.js';

/** Aliases (*name) a document may resolve; specs rarely use any. */
const MAX_ALIASES = 100;

export function parseYamlText(text: string, file: string): unknown {
  try {
    // The parser's own check of repeated keys compares each key with every other one (40,000 keys took 20 s):
    // keys are checked here with a set instead.
    const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
    if (doc.errors.length) throw doc.errors[0];
    const { repeated, tagged } = nonJson(doc, text);
    if (repeated) throw new CdmmError(`${file}: YAML error: map keys must be unique: ${repeated}`);
    if (tagged) throw new CdmmError(`${file}: YAML error: ${tagged}: cdmm reads plain text, numbers, lists and mappings from YAML (a tag such as !!binary or !!set would make a Buffer or a Set of a value)`);
    const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIASES });
    const shape = shapeProblem(value);
    if (shape) throw new CdmmError(`${file}: YAML error: ${shape}`);
    return value;
  } catch (e) {
    if (e instanceof CdmmError) throw e;
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

/** Deepest nesting of lists and mappings accepted (a spec needs about 6). */
const MAX_DEPTH = 64;

/**
 * What makes a parsed value unusable as a spec even though it parsed: an alias inside its own anchor (`&a [*a]`),
 * which makes a value that contains itself, or nesting deeper than MAX_DEPTH. Every later walk of the value is
 * recursive and would overflow the stack on either. Iterative, so that it cannot overflow itself.
 */
function shapeProblem(root: unknown): string | null {
  const onPath = new Set<object>();
  const stack: { v: unknown; depth: number; exit?: boolean }[] = [{ v: root, depth: 0 }];
  while (stack.length) {
    const { v, depth, exit } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (exit) { onPath.delete(v); continue; }
    if (onPath.has(v)) return 'an alias (*name) is used inside its own anchor (&name), so the value would contain itself';
    if (depth >= MAX_DEPTH) return `lists and mappings nested more than ${MAX_DEPTH} deep; a spec needs a few levels`;
    onPath.add(v);
    stack.push({ v, depth, exit: true });
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: x, depth: depth + 1 });
  }
  return null;
}

/** Tags that keep a value plain JSON. */
const PLAIN_TAGS = new Set(['tag:yaml.org,2002:str', 'tag:yaml.org,2002:int', 'tag:yaml.org,2002:float', 'tag:yaml.org,2002:bool', 'tag:yaml.org,2002:null', 'tag:yaml.org,2002:map', 'tag:yaml.org,2002:seq']);

/**
 * In one walk of the document: the first key a mapping repeats ("KEY at line L") and the first node with an explicit
 * tag that makes it other than plain JSON ("tag T at line L"), each undefined when there is none.
 */
function nonJson(doc: Document, text: string): { repeated?: string; tagged?: string } {
  const out: { repeated?: string; tagged?: string } = {};
  const at = (range: readonly number[] | null | undefined) => (range ? ` at line ${text.slice(0, range[0]).split('\n').length}` : '');
  visit(doc, (_, node) => {
    if (!out.tagged && isNode(node) && node.tag && !PLAIN_TAGS.has(node.tag))
      out.tagged = `tag ${JSON.stringify(node.tag.replace('tag:yaml.org,2002:', '!!')).slice(0, 80)}${at(node.range)}`;
    if (!out.repeated && isMap(node)) {
      const seen = new Set<string>();
      for (const { key: k } of node.items) {
        const name = isScalar(k) ? String(k.value) : JSON.stringify(k); // as the key of the object it becomes (1 and "1" are one key there)
        if (seen.has(name)) {
          out.repeated = `${JSON.stringify(name).slice(0, 120)}${isScalar(k) ? at(k.range) : ''}`;
          break;
        }
        seen.add(name);
      }
    }
    return out.repeated && out.tagged ? visit.BREAK : undefined;
  });
  return out;
}
