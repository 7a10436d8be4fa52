// One JSON cell of a patient record, read as the SQL path reads it: `loadRecords` writes the cell into a DuckDB
// column of the training type (src/data/records.ts, sqlValue) and the modality builders read it back with
// CAST(… AS DOUBLE), CAST(… AS VARCHAR) or epoch_ms(CAST(… AS TIMESTAMP)). These functions give the same values
// without DuckDB, for the column types CSV files produce (numbers, booleans, text, dates, timestamps); every
// other type is 'duck': only DuckDB can say what it holds. test/data-cells.test.ts checks each reader against
// DuckDB itself, value by value, including the inputs DuckDB refuses.

/** How the columns of a type are read. */
export type ColumnClass = 'double' | 'float' | 'integer' | 'boolean' | 'varchar' | 'date' | 'timestamp' | 'duck';

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT']);

export function columnClass(type: string): ColumnClass {
  const t = type.toUpperCase();
  if (t === 'DOUBLE') return 'double';
  if (t === 'FLOAT' || t === 'REAL') return 'float';
  if (INTEGER_TYPES.has(t)) return 'integer';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'VARCHAR') return 'varchar';
  if (t === 'DATE') return 'date';
  if (t === 'TIMESTAMP' || t === 'TIMESTAMP WITH TIME ZONE') return 'timestamp';
  return 'duck';
}

/** A cell the column's type cannot hold (DuckDB's INSERT would fail): the validator reports it. */
export const UNREADABLE = Symbol('unreadable');
export type Unreadable = typeof UNREADABLE;

const blank = (v: unknown) => v === null || v === undefined || v === '';

/** DuckDB's number text: ASCII blanks around, no hex, no thousands separators (underscores are refused by the validator). */
const NUMBER_TEXT = /^[ \t\n\r\v\f]*[-+]?(\d+(?:\.\d*)?|\.\d+)([eE][-+]?\d+)?[ \t\n\r\v\f]*$/;

/** std::nearbyint: DuckDB casts a DOUBLE to an integer type rounding half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Text a BOOLEAN column accepts in a record as in its table file (trimmed, any case): true/false, t/f, yes/no, y/n. */
export const BOOLEAN_TEXT = /^\s*(true|false|t|f|yes|no|y|n)\s*$/i;
/** 1 or 0 for boolean text. */
export const booleanTextValue = (v: string): number => (/^\s*(true|t|yes|y)\s*$/i.test(v) ? 1 : 0);

/** The cell as a DOUBLE, before the column type: booleans 1/0, text parsed; NaN = NULL. */
function asDouble(v: unknown): number | Unreadable {
  if (blank(v)) return NaN;
  if (typeof v === 'number') return v === 0 ? 0 : v; // written as String(v): -0 becomes '0'
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && NUMBER_TEXT.test(v)) return Number(v);
  return UNREADABLE;
}

/**
 * CAST(column AS DOUBLE) of a number-typed column (DOUBLE, FLOAT, integers, BOOLEAN) after the cell was written
 * into it; NaN = NULL. Range checks are the validator's (numberProblem); FLOAT overflow is checked here.
 */
export function readNumber(v: unknown, cls: ColumnClass): number | Unreadable {
  if (cls === 'boolean' && typeof v === 'string' && BOOLEAN_TEXT.test(v)) return booleanTextValue(v);
  const x = asDouble(v);
  if (x === UNREADABLE || Number.isNaN(x)) return x;
  if (!Number.isFinite(x)) return UNREADABLE;
  switch (cls) {
    case 'double':
      return x;
    case 'float': {
      const f = Math.fround(x);
      return Number.isFinite(f) ? f : UNREADABLE;
    }
    case 'integer':
      return roundHalfEven(x) || 0; // -0 stored in an integer column reads back as 0
    case 'boolean':
      return x !== 0 ? 1 : 0;
    default:
      return UNREADABLE;
  }
}

/**
 * CAST(column AS VARCHAR) after the cell was written into a column of class `cls`; null = NULL. Text columns hold
 * the JSON value as JavaScript writes it (String(v)); DuckDB stores text as UTF-8, so a lone surrogate becomes U+FFFD.
 */
export function readText(v: unknown, cls: ColumnClass): string | null | Unreadable {
  if (blank(v)) return null;
  if (cls === 'varchar') {
    const s = String(v);
    return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATE_ALL, '\ufffd') : s;
  }
  const x = readNumber(v, cls);
  if (x === UNREADABLE || Number.isNaN(x)) return x === UNREADABLE ? x : null;
  switch (cls) {
    case 'integer':
      return BigInt(x).toString();
    case 'boolean':
      return x ? 'true' : 'false';
    case 'double':
      return doubleText(x);
    default:
      return UNREADABLE;
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, 'g');

/** DuckDB's text of a DOUBLE: the shortest digits that read back the same, fixed notation for exponents −4…15 with ".0" for whole numbers, else "1.5e+16". */
export function doubleText(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp > 15) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

const MS_PER_DAY = 86_400_000;
const US_PER_DAY = 86_400_000_000;

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** epoch_ms(t), which truncates toward zero, of the instant `days` + `us` microseconds (0 ≤ us < one day). */
function epochMs(days: number, us: number): number {
  return days * MS_PER_DAY + (days < 0 ? Math.ceil(us / 1000) : Math.floor(us / 1000));
}

/** An instant as whole days since 1970 and microseconds into the day (0 ≤ us < one day). */
export interface Instant {
  days: number;
  us: number;
}

/** The instant of a whole number of microseconds since 1970 (exact beyond 2^53). */
function instantOfMicros(total: bigint): Instant {
  const D = BigInt(US_PER_DAY);
  let days = total / D;
  if (total % D < 0n) days -= 1n;
  return { days: Number(days), us: Number(total - days * D) };
}

/** What the validator lets through (TIME_TEXT in src/serve/validate.ts), with the parts named. */
const TIME_PARTS = /^([ \t\n\r\v\f]*)(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?(\s*)$/;
const ASCII_BLANKS = /^[ \t\n\r\v\f]*$/;
/** records.ts sends text with a zone after a time through TIMESTAMPTZ (the instant in UTC). */
export const ZONED = /\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)\s*$/i;
/** A zone that is UTC ("Z", +00, +00:00): a zoneless time beside it is on the same clock. */
export const UTC_ZONE = /(Z|[+-]00(:?00)?)\s*$/i;

const daysIn = (y: number, m: number) => [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

/**
 * The instant a DATE or TIMESTAMP column holds after the cell was written into it; NaN = NULL. Numbers are epoch
 * seconds (to_timestamp: microseconds rounded half to even); text is a date with an optional time and zone, read by
 * DuckDB's rules: a zone or trailing blanks need the seconds, digits past microseconds are cut, 24:00 is the next
 * midnight, a zoned time counts as its instant in UTC, and a DATE keeps the day only.
 */
export function readInstant(v: unknown, cls: ColumnClass): Instant | number | Unreadable {
  if (blank(v)) return NaN;
  if (cls !== 'date' && cls !== 'timestamp') return UNREADABLE;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) > 253402300799) return UNREADABLE;
    const t = instantOfMicros(BigInt(roundHalfEven(v * 1e6)));
    return cls === 'date' ? { days: t.days, us: 0 } : t;
  }
  if (typeof v !== 'string') return UNREADABLE;
  const m = TIME_PARTS.exec(v);
  if (!m) return UNREADABLE;
  const [, , ys, mos, ds, hs, mins, ss, frac, zone, trail] = m;
  const y = Number(ys), mo = Number(mos), d = Number(ds);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return UNREADABLE;
  const hasTime = hs !== undefined;
  const h = hasTime ? Number(hs) : 0, mi = hasTime ? Number(mins) : 0, s = ss === undefined ? 0 : Number(ss);
  if (h > 24 || mi > 59 || s > 59 || (h === 24 && (mi > 0 || s > 0 || (frac !== undefined && /[1-9]/.test(frac))))) return UNREADABLE;
  const days = daysFromCivil(y, mo, d);
  const us = ((h * 60 + mi) * 60 + s) * 1e6 + (frac === undefined ? 0 : Number(frac.slice(0, 6).padEnd(6, '0')));
  if (ZONED.test(v)) {
    // TIMESTAMPTZ: seconds required, ASCII blanks after; the instant = local time − zone offset.
    if (ss === undefined || !ASCII_BLANKS.test(trail)) return UNREADABLE;
    let off = 0;
    if (zone && zone !== 'Z') {
      const sign = zone[0] === '-' ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      off = sign * (Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2)) : 0)) * 60e6;
    }
    const t = us - off;
    const shift = Math.floor(t / US_PER_DAY);
    return { days: days + shift, us: cls === 'date' ? 0 : t - shift * US_PER_DAY };
  }
  // DATE reads the date and ignores what follows; TIMESTAMP takes spaces after the seconds only, and no zone here.
  if (cls === 'date') return { days, us: 0 };
  if (zone !== undefined || !/^ *$/.test(trail) || (ss === undefined && trail !== '')) return UNREADABLE;
  return us >= US_PER_DAY ? { days: days + 1, us: us - US_PER_DAY } : { days, us };
}

/** epoch_ms(CAST(column AS TIMESTAMP)) after the cell was written into a DATE or TIMESTAMP column; NaN = NULL. */
export function readTime(v: unknown, cls: ColumnClass): number | Unreadable {
  const t = readInstant(v, cls);
  return typeof t === 'object' ? epochMs(t.days, t.us) : t;
}

/** epoch_ms(CAST(t AS TIMESTAMP) + to_microseconds(offsetUs)): an instant moved by whole microseconds. */
export function shiftedEpochMs(t: Instant, offsetUs: number): number {
  return Number((BigInt(t.days) * BigInt(US_PER_DAY) + BigInt(t.us) + BigInt(offsetUs)) / 1000n);
}
