// Cohort filters (cohort.filters in a spec): one boolean expression over the cohort table's columns, in a small
// SQL-like grammar. The text is parsed here and the SQL that DuckDB runs is generated from the parse tree, so a
// spec can name columns and compare values but cannot reach any other SQL (no statements, subqueries, table
// functions, comments or file access). The grammar is in docs/SPEC.md (cohort.filters).
import { closest } from '../util/closest.js';
import { CdmmError } from '../util/errors.js';

export type FilterNode =
  | { kind: 'number'; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }
  | { kind: 'typed'; type: 'DATE' | 'TIMESTAMP'; value: string }
  | { kind: 'column'; name: string; quoted: boolean; pos: number }
  | { kind: 'call'; name: string; args: FilterNode[] }
  | { kind: 'cast'; expr: FilterNode; type: string }
  | { kind: 'unary'; op: '-' | 'NOT'; expr: FilterNode }
  | { kind: 'binary'; op: string; left: FilterNode; right: FilterNode }
  | { kind: 'is'; expr: FilterNode; not: boolean; what: 'NULL' | 'TRUE' | 'FALSE' }
  | { kind: 'in'; expr: FilterNode; not: boolean; list: FilterNode[] }
  | { kind: 'between'; expr: FilterNode; not: boolean; low: FilterNode; high: FilterNode }
  | { kind: 'like'; expr: FilterNode; not: boolean; op: 'LIKE' | 'ILIKE'; pattern: FilterNode };

/** Functions a filter may call, with their fewest and most arguments: pure, scalar, no I/O. */
export const FILTER_FUNCTIONS: Record<string, [number, number]> = {
  abs: [1, 1], round: [1, 2], floor: [1, 1], ceil: [1, 1], sqrt: [1, 1], ln: [1, 1], log10: [1, 1],
  least: [2, 16], greatest: [2, 16], coalesce: [1, 16], nullif: [2, 2], isfinite: [1, 1], isnan: [1, 1],
  lower: [1, 1], upper: [1, 1], trim: [1, 1], length: [1, 1], starts_with: [2, 2], ends_with: [2, 2], contains: [2, 2],
  year: [1, 1], month: [1, 1], day: [1, 1], hour: [1, 1], date_diff: [3, 3],
};
export const FILTER_CAST_TYPES = ['DOUBLE', 'INTEGER', 'BIGINT', 'VARCHAR', 'BOOLEAN', 'DATE', 'TIMESTAMP'];

export const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IS', 'NULL', 'IN', 'BETWEEN', 'LIKE', 'ILIKE', 'TRUE', 'FALSE', 'CAST', 'AS', 'DATE', 'TIMESTAMP']);
const COMPARISONS = new Set(['=', '==', '<>', '!=', '<', '<=', '>', '>=']);

type Token =
  | { t: 'num'; text: string; pos: number }
  | { t: 'str'; value: string; pos: number }
  | { t: 'ident'; name: string; quoted: boolean; pos: number }
  | { t: 'op'; op: string; pos: number }
  | { t: 'end'; pos: number };

/** A filter that does not parse, with the 0-based character position of the problem. */
export class FilterSyntaxError extends Error {
  constructor(readonly reason: string, readonly pos: number) {
    super(reason);
    this.name = 'FilterSyntaxError';
  }
}

/** Deepest nesting of parentheses, NOT and signs a filter may have (real filters have a handful). */
export const MAX_FILTER_DEPTH = 64;
/** Longest filter, and most tokens in one (an IN list of 2,000 codes fits; the tree stays shallow enough to write). */
export const MAX_FILTER_CHARS = 20_000;
export const MAX_FILTER_TOKENS = 5_000;

/** A filter as quoted in messages: long ones cut, so one bad line stays one line. */
export const shownFilter = (text: string): string => JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (why: string, at = i): never => { throw new FilterSyntaxError(why, at); };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('--', i) || src.startsWith('/*', i)) fail('comments are not allowed');
    const num = /^(\d+(?:\.\d*)?|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i));
    if (num) {
      if (/^[A-Za-z_]/.test(src.slice(i + num[0].length))) fail(`unexpected text after the number ${num[0]}`, i + num[0].length);
      out.push({ t: 'num', text: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= src.length) fail(c === "'" ? 'unterminated string' : 'unterminated quoted column name', i);
        if (src[j] === c) {
          if (src[j + 1] === c) { value += c; j += 2; continue; }
          break;
        }
        value += src[j++];
      }
      if (c === '"' && value === '') fail('empty quoted column name', i);
      out.push(c === "'" ? { t: 'str', value, pos: i } : { t: 'ident', name: value, quoted: true, pos: i });
      i = j + 1;
      continue;
    }
    const id = /^[\p{L}_][\p{L}\p{N}_]*/u.exec(src.slice(i));
    if (id) {
      out.push({ t: 'ident', name: id[0], quoted: false, pos: i });
      i += id[0].length;
      continue;
    }
    const op = ['<=', '>=', '<>', '!=', '==', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ','].find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ t: 'op', op, pos: i });
      i += op.length;
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}${c === ';' ? ' (a filter is one expression, not statements)' : ''}`);
  }
  out.push({ t: 'end', pos: src.length });
  return out;
}

class Parser {
  private k = 0;
  /** Nesting so far: the parser recurses per level, and a spec or a run folder is untrusted input. */
  private depth = 0;
  constructor(private readonly toks: Token[]) {}

  private nested<T>(f: () => T): T {
    if (++this.depth > MAX_FILTER_DEPTH) this.fail(`nested more than ${MAX_FILTER_DEPTH} levels deep`);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token { return this.toks[this.k]; }
  private next(): Token { return this.toks[this.k++]; }
  private fail(why: string, tok = this.peek()): never { throw new FilterSyntaxError(why, tok.pos); }
  private isKw(word: string, tok = this.peek()): boolean { return tok.t === 'ident' && !tok.quoted && tok.name.toUpperCase() === word; }
  private isOp(op: string, tok = this.peek()): boolean { return tok.t === 'op' && tok.op === op; }
  private eatKw(word: string): boolean { if (this.isKw(word)) { this.k++; return true; } return false; }
  private expectKw(word: string): void { if (!this.eatKw(word)) this.fail(`expected ${word}, found ${describe(this.peek())}`); }
  private expectOp(op: string): void { if (!this.isOp(op)) this.fail(`expected '${op}', found ${describe(this.peek())}`); this.k++; }

  parse(): FilterNode {
    if (this.peek().t === 'end') this.fail('empty filter');
    const e = this.or();
    if (this.peek().t !== 'end') this.fail(`unexpected ${describe(this.peek())}`);
    return e;
  }

  private or(): FilterNode {
    return this.nested(() => this.orInner());
  }

  private orInner(): FilterNode {
    let left = this.and();
    while (this.eatKw('OR')) left = { kind: 'binary', op: 'OR', left, right: this.and() };
    return left;
  }

  private and(): FilterNode {
    let left = this.not();
    while (this.eatKw('AND')) left = { kind: 'binary', op: 'AND', left, right: this.not() };
    return left;
  }

  private not(): FilterNode {
    if (this.eatKw('NOT')) return this.nested(() => ({ kind: 'unary', op: 'NOT', expr: this.not() }));
    return this.predicate();
  }

  private predicate(): FilterNode {
    const left = this.sum();
    const tok = this.peek();
    if (tok.t === 'op' && COMPARISONS.has(tok.op)) {
      this.k++;
      return { kind: 'binary', op: tok.op === '==' ? '=' : tok.op === '!=' ? '<>' : tok.op, left, right: this.sum() };
    }
    if (this.eatKw('IS')) {
      const not = this.eatKw('NOT');
      for (const what of ['NULL', 'TRUE', 'FALSE'] as const) if (this.eatKw(what)) return { kind: 'is', expr: left, not, what };
      this.fail(`expected NULL, TRUE or FALSE after IS${not ? ' NOT' : ''}, found ${describe(this.peek())}`);
    }
    const not = this.isKw('NOT') && ['IN', 'BETWEEN', 'LIKE', 'ILIKE'].some((w) => this.isKw(w, this.toks[this.k + 1]));
    if (not) this.k++;
    if (this.eatKw('IN')) {
      this.expectOp('(');
      const list = [this.sum()];
      while (this.isOp(',')) { this.k++; list.push(this.sum()); }
      this.expectOp(')');
      return { kind: 'in', expr: left, not, list };
    }
    if (this.eatKw('BETWEEN')) {
      const low = this.sum();
      this.expectKw('AND');
      return { kind: 'between', expr: left, not, low, high: this.sum() };
    }
    for (const op of ['LIKE', 'ILIKE'] as const) if (this.eatKw(op)) return { kind: 'like', expr: left, not, op, pattern: this.sum() };
    return left;
  }

  private sum(): FilterNode {
    let left = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.next() as { op: string }).op;
      left = { kind: 'binary', op, left, right: this.product() };
    }
    return left;
  }

  private product(): FilterNode {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.next() as { op: string }).op;
      left = { kind: 'binary', op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    if (this.isOp('-')) { this.k++; return this.nested(() => ({ kind: 'unary', op: '-', expr: this.unary() })); }
    if (this.isOp('+')) { this.k++; return this.nested(() => this.unary()); }
    return this.primary();
  }

  private primary(): FilterNode {
    const tok = this.next();
    if (tok.t === 'num') return { kind: 'number', text: tok.text };
    if (tok.t === 'str') return { kind: 'string', value: tok.value };
    if (tok.t === 'op' && tok.op === '(') {
      if (this.isKw('SELECT')) this.fail('subqueries are not allowed');
      const e = this.or();
      this.expectOp(')');
      return e;
    }
    if (tok.t !== 'ident') this.fail(`unexpected ${describe(tok)}`, tok);
    if (tok.quoted) return { kind: 'column', name: tok.name, quoted: true, pos: tok.pos };
    const word = tok.name.toUpperCase();
    if (word === 'TRUE' || word === 'FALSE') return { kind: 'bool', value: word === 'TRUE' };
    if (word === 'NULL') return { kind: 'null' };
    if ((word === 'DATE' || word === 'TIMESTAMP') && this.peek().t === 'str') return { kind: 'typed', type: word, value: (this.next() as { value: string }).value };
    if (word === 'CAST' && this.isOp('(')) {
      this.k++;
      const expr = this.or();
      this.expectKw('AS');
      const ty = this.next();
      const type = ty.t === 'ident' && !ty.quoted ? ty.name.toUpperCase() : '';
      if (!FILTER_CAST_TYPES.includes(type)) this.fail(`CAST to ${describe(ty)} is not allowed (types: ${FILTER_CAST_TYPES.join(', ')})`, ty);
      this.expectOp(')');
      return { kind: 'cast', expr, type };
    }
    if (this.isOp('(')) {
      const name = tok.name.toLowerCase();
      const arity = Object.hasOwn(FILTER_FUNCTIONS, name) ? FILTER_FUNCTIONS[name] : undefined;
      if (!arity) this.fail(`function ${tok.name}() is not allowed in a filter (allowed: ${Object.keys(FILTER_FUNCTIONS).join(', ')})`, tok);
      this.k++;
      const args: FilterNode[] = [];
      if (!this.isOp(')')) {
        args.push(this.or());
        while (this.isOp(',')) { this.k++; args.push(this.or()); }
      }
      this.expectOp(')');
      if (args.length < arity[0] || args.length > arity[1])
        this.fail(`${name}() takes ${arity[0] === arity[1] ? arity[0] : `${arity[0]} to ${arity[1]}`} argument(s), got ${args.length}`, tok);
      return { kind: 'call', name, args };
    }
    if (KEYWORDS.has(word)) this.fail(`unexpected ${word}`, tok);
    return { kind: 'column', name: tok.name, quoted: false, pos: tok.pos };
  }
}

function describe(tok: Token): string {
  switch (tok.t) {
    case 'end': return 'the end of the filter';
    case 'num': return tok.text;
    case 'str': return `'${tok.value.slice(0, 20)}'`;
    case 'ident': return tok.quoted ? `"${tok.name}"` : `'${tok.name}'`;
    case 'op': return `'${tok.op}'`;
  }
}

/** Parses a filter; throws FilterSyntaxError naming the position. */
export function parseFilter(text: string): FilterNode {
  // The SQL writer recurses over the tree: a chain of thousands of ORs is as deep there as nesting is here.
  if (text.length > MAX_FILTER_CHARS) throw new FilterSyntaxError(`longer than ${MAX_FILTER_CHARS} characters`, MAX_FILTER_CHARS);
  const toks = tokenize(text);
  if (toks.length > MAX_FILTER_TOKENS) throw new FilterSyntaxError(`more than ${MAX_FILTER_TOKENS} words and symbols`, toks[MAX_FILTER_TOKENS].pos);
  return new Parser(toks).parse();
}

/** The reason a filter does not parse, as one phrase (for spec validation), or undefined when it parses. */
export function filterSyntaxProblem(text: string): string | undefined {
  try {
    parseFilter(text);
    return undefined;
  } catch (e) {
    if (e instanceof FilterSyntaxError) return `${e.reason} (at character ${e.pos + 1})`;
    throw e;
  }
}

/** Every column a filter names. */
export function filterColumns(node: FilterNode): { name: string; quoted: boolean; pos: number }[] {
  const out: { name: string; quoted: boolean; pos: number }[] = [];
  const walk = (n: FilterNode): void => {
    switch (n.kind) {
      case 'column': out.push(n); break;
      case 'call': n.args.forEach(walk); break;
      case 'cast': case 'unary': case 'is': walk(n.expr); break;
      case 'binary': walk(n.left); walk(n.right); break;
      case 'in': walk(n.expr); n.list.forEach(walk); break;
      case 'between': walk(n.expr); walk(n.low); walk(n.high); break;
      case 'like': walk(n.expr); walk(n.pattern); break;
      default: break;
    }
  };
  walk(node);
  return out;
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The SQL of a parsed filter, fully parenthesised; `column` turns a column name into SQL (and throws for a name
 * that is not a column). Only this function writes the SQL a filter becomes.
 */
export function filterToSql(node: FilterNode, column: (name: string, quoted: boolean) => string): string {
  const s = (n: FilterNode): string => {
    switch (n.kind) {
      case 'number': return n.text;
      case 'string': return sqlString(n.value);
      case 'bool': return n.value ? 'TRUE' : 'FALSE';
      case 'null': return 'NULL';
      case 'typed': return `${n.type} ${sqlString(n.value)}`;
      case 'column': return column(n.name, n.quoted);
      case 'call': return `${n.name}(${n.args.map(s).join(', ')})`;
      case 'cast': return `CAST(${s(n.expr)} AS ${n.type})`;
      case 'unary': return n.op === 'NOT' ? `(NOT ${s(n.expr)})` : `(- ${s(n.expr)})`;
      case 'binary': return `(${s(n.left)} ${n.op} ${s(n.right)})`;
      case 'is': return `(${s(n.expr)} IS ${n.not ? 'NOT ' : ''}${n.what})`;
      case 'in': return `(${s(n.expr)} ${n.not ? 'NOT ' : ''}IN (${n.list.map(s).join(', ')}))`;
      case 'between': return `(${s(n.expr)} ${n.not ? 'NOT ' : ''}BETWEEN ${s(n.low)} AND ${s(n.high)})`;
      case 'like': return `(${s(n.expr)} ${n.not ? 'NOT ' : ''}${n.op} ${s(n.pattern)})`;
    }
  };
  return s(node);
}

/**
 * Compiles filter `k` of a spec against the cohort table's columns (exact name first, then a unique
 * case-insensitive match, as DuckDB resolves names); errors name the spec field and the columns there are.
 */
export function compileFilter(text: string, k: number, columns: string[], alias: string, where: { specFile: string; table: string; label: string }): string {
  const field = `${where.specFile}: cohort.filters[${k}]`;
  let node: FilterNode;
  try {
    node = parseFilter(text);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new CdmmError(`${field}: invalid filter ${shownFilter(text)}: ${e.reason} (at character ${e.pos + 1}); a filter is one boolean expression over the cohort table's columns (docs/SPEC.md)`);
    throw e;
  }
  const quote = (c: string) => `"${c.replace(/"/g, '""')}"`;
  return filterToSql(node, (name) => {
    const hit = columns.includes(name) ? name : columns.filter((c) => c.toLowerCase() === name.toLowerCase()).length === 1 ? columns.find((c) => c.toLowerCase() === name.toLowerCase()) : undefined;
    if (hit === undefined) {
      const near = closest(name, columns);
      throw new CdmmError(`${field}: invalid filter ${shownFilter(text)}: no column '${name}' in the cohort table '${where.table}' (${where.label})${near ? ` (did you mean '${near}'?)` : ''}; columns: ${columns.join(', ')}`);
    }
    return `${alias}.${quote(hit)}`;
  });
}
