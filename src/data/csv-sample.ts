// CSV column types from DuckDB's sample instead of the whole file. Typing from the whole file (sample_size=-1)
// parses every value once more before the load; typing from the sample alone is unsafe, since a value past it
// that parses loosely is converted without a word (12.5 in a column sampled as BIGINT becomes 13, a time of day
// in a column sampled as DATE is dropped). So the sample's types are widened where a later value could be
// converted loosely (BIGINT → DOUBLE, DATE → TIMESTAMP), the file is read once with them, and each widened column
// is narrowed back where all its values allow it. Whatever the sample cannot vouch for is refused (null / false),
// and the caller then reads with whole-file types, as before: the result is the whole-file read's, one parse less.
import type { DuckDBConnection } from '@duckdb/node-api';
import { lit, q } from './db.js';

/** Types the sample may give that the read below handles; any other (e.g. HUGEINT) → whole-file typing. */
const HANDLED = new Set(['BIGINT', 'DOUBLE', 'VARCHAR', 'BOOLEAN', 'DATE', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIME']);
/**
 * Data rows every sample holds: DuckDB's sniffer reads the first 20,480 rows (measured with DuckDB 1.5: a column
 * empty in its first 20,470 rows and numbers after is sampled as BIGINT, also with 5 KB lines); a margin below it.
 */
const SAMPLED_ROWS = 20_000;
/**
 * Files below this size are typed from the whole file: the sample is then most of the file, and the sniffer's
 * own read of a small wide file (8,000 columns, 20 rows) cost as much as the whole read. Tests lower it.
 */
export const sampling = { minBytes: 1 << 20 };
/** Columns narrowed one by one with ALTER (each rewrites one column); beyond, one rewrite of the table. */
const ALTER_MAX = 8;
/** Integers a DOUBLE holds exactly (beyond, "12345678901234567891" and 1.2345678901234567e19 look the same). */
const EXACT = 2 ** 53;

export interface SampledTypes {
  /** Every column with the type to read it as (the sample's, widened). */
  types: [string, string][];
  /** Columns sampled as BIGINT, read as DOUBLE. */
  integers: string[];
  /** Columns sampled as DATE, read as TIMESTAMP. */
  dates: string[];
  /** Columns sampled as VARCHAR: an empty sample says nothing about the rest of the column. */
  texts: string[];
}

/**
 * The sample's column types, widened, or null when the sample cannot type the file (the sniffer failed, or gave a
 * type not handled here). `readOptions` are the read's own options (", delim='…', nullstr=[…], …"); `asText`
 * columns are read as text whatever the sample says.
 */
export async function sampledTypes(con: DuckDBConnection, path: string, readOptions: string, asText: string[]): Promise<SampledTypes | null> {
  let cols: { name: string; type: string }[];
  try {
    const r = await con.runAndReadAll(`SELECT Columns FROM sniff_csv(${lit(path)}, header=true${readOptions})`);
    cols = (r.getRowsJS()[0]?.[0] ?? []) as { name: string; type: string }[];
  } catch {
    return null;
  }
  if (!cols.length || cols.some((c) => typeof c?.name !== 'string' || !HANDLED.has(String(c.type)))) return null;
  const text = new Set(asText);
  const out: SampledTypes = { types: [], integers: [], dates: [], texts: [] };
  for (const { name, type } of cols) {
    const t = text.has(name) ? 'VARCHAR' : type;
    if (t === 'BIGINT') out.integers.push(name);
    else if (t === 'DATE') out.dates.push(name);
    else if (t === 'VARCHAR' && !text.has(name)) out.texts.push(name);
    out.types.push([name, t === 'BIGINT' ? 'DOUBLE' : t === 'DATE' ? 'TIMESTAMP' : t]);
  }
  return out;
}

/** The read_csv option giving every column its type. */
export function typesOption(s: SampledTypes): string {
  return `types={${s.types.map(([n, t]) => `${lit(n)}: ${lit(t)}`).join(', ')}}`;
}

/**
 * After the read with the widened types (`table`, its rows numbered by `__line`, the header being line 1): true
 * once each widened column has the type whole-file typing gives it, false when whole-file typing is needed (an
 * integer column whose values a DOUBLE may not hold exactly; a text column whose sample was empty).
 */
export async function narrowSampled(con: DuckDBConnection, table: string, s: SampledTypes): Promise<boolean> {
  const described = await con.runAndReadAll(`SELECT column_name FROM (DESCRIBE ${table})`);
  const loaded = new Set(described.getRowsJS().map((r) => String(r[0])));
  const ints = s.integers.filter((c) => loaded.has(c));
  const dates = s.dates.filter((c) => loaded.has(c));
  const texts = s.texts.filter((c) => loaded.has(c));
  const stats: string[] = [];
  for (const c of ints) {
    const x = q(c);
    stats.push(`count(*) FILTER (WHERE ${x} IS NOT NULL AND NOT (isfinite(${x}) AND ${x} = trunc(${x})))`, `count(*) FILTER (WHERE abs(${x}) >= ${EXACT})`);
  }
  for (const c of dates) stats.push(`count(*) FILTER (WHERE ${q(c)} <> date_trunc('day', ${q(c)}))`);
  for (const c of texts) stats.push(`count(${q(c)}) FILTER (WHERE __line <= ${SAMPLED_ROWS + 1})`, `count(${q(c)})`);
  if (!stats.length) return true;
  const row = (await con.runAndReadAll(`SELECT ${stats.join(', ')} FROM ${table}`)).getRowsJS()[0].map(Number);
  const narrow: { column: string; type: 'BIGINT' | 'DATE' | 'DOUBLE' }[] = [];
  let k = 0;
  for (const c of ints) {
    const fractional = row[k++], huge = row[k++];
    if (fractional > 0) continue; // a 12.5 or an inf: whole-file typing says DOUBLE too
    if (huge > 0) return false;
    narrow.push({ column: c, type: 'BIGINT' });
  }
  for (const c of dates) if (row[k++] === 0) narrow.push({ column: c, type: 'DATE' });
  // A text column empty in the sample but not after it (sparse columns are common: eICU's cardiac output): whole-
  // file typing says VARCHAR if some value is text that no candidate type parses (a value that could be a number,
  // a date or a time in a format the whole-file sniffer detects does not count); BIGINT or
  // DOUBLE if every value is a plain number, written as the sniffer was measured to type it (no sign, leading zero,
  // exponent or space: it reads "+7" and "007" as text, "1e5" as DOUBLE); anything else, whole-file typing.
  const unsampled = texts.filter(() => {
    const inSample = row[k++], all = row[k++];
    return inSample === 0 && all > 0;
  });
  if (unsampled.length) {
    // Could be a number, a date or a time in some format ("1e5", "03/01/2020", "10:30"); "1-2" or "PO" cannot.
    const MAYBE = `'^([+-]?[0-9.]+([eE][+-]?[0-9]+)?$|[0-9]{1,4}[-/. ][0-9]{1,2}[-/. ][0-9]{1,4}|[0-9]{1,2}:[0-9]{2})'`;
    const INT = `'^-?(0|[1-9][0-9]{0,17})$'`;
    const DEC = `'^-?((0|[1-9][0-9]*)(\\.[0-9]*)?|\\.[0-9]+)$'`;
    const checks = unsampled.flatMap((c) => {
      const x = q(c), v = `trim(${x})`;
      return [
        `count(*) FILTER (WHERE ${x} IS NOT NULL AND NOT regexp_matches(${v}, ${MAYBE}) AND ${['BIGINT', 'DOUBLE', 'BOOLEAN', 'TIMESTAMP', 'TIME'].map((ty) => `TRY_CAST(${v} AS ${ty}) IS NULL`).join(' AND ')})`,
        `count(*) FILTER (WHERE ${x} IS NOT NULL AND NOT regexp_full_match(${x}, ${INT}))`,
        `count(*) FILTER (WHERE ${x} IS NOT NULL AND NOT regexp_full_match(${x}, ${DEC}))`,
      ];
    });
    const found = (await con.runAndReadAll(`SELECT ${checks.join(', ')} FROM ${table}`)).getRowsJS()[0].map(Number);
    let j = 0;
    for (const c of unsampled) {
      const text = found[j++], notInt = found[j++], notNumber = found[j++];
      if (text > 0) continue; // text: VARCHAR, as whole-file typing says
      if (notInt === 0) narrow.push({ column: c, type: 'BIGINT' });
      else if (notNumber === 0) narrow.push({ column: c, type: 'DOUBLE' });
      else return false;
    }
  }
  // Column by column (a rewrite of the whole table would hold two copies of a large one at once); many columns
  // (a wide table: 1,172 ALTERs took 26 s) in one rewrite.
  if (narrow.length <= ALTER_MAX) for (const n of narrow) await con.run(`ALTER TABLE ${table} ALTER ${q(n.column)} TYPE ${n.type}`);
  else await con.run(`CREATE OR REPLACE TABLE ${table} AS SELECT * REPLACE (${narrow.map((n) => `CAST(${q(n.column)} AS ${n.type}) AS ${q(n.column)}`).join(', ')}) FROM ${table}`);
  return true;
}
