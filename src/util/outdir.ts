// Checks of an output path (--out) before any work starts: nothing a user has is deleted or overwritten unless
// they pass --overwrite, and even then only a folder (or file) that cdmm wrote, of the kind the command writes.
// A path that cannot be written fails here, in one line, instead of after hours of training.
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, rmdirSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { CdmmError } from './errors.js';
import { readJsonText } from './files.js';
import { say } from './say.js';

/** The folders cdmm writes, each recognised by the files it holds (docs/RUN-FORMAT.md). */
export type OutputKind = 'run' | 'benchmark' | 'simulate' | 'demo';

const KIND_NAME: Record<OutputKind, string> = { run: 'run folder', benchmark: 'benchmark folder', simulate: 'simulated-data folder', demo: 'demo folder' };

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readJsonText(path));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The first `n` bytes of a file as text (for recognising our own outputs without reading a large file). */
function head(path: string, n: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** What kind of cdmm folder `dir` is, or undefined when cdmm did not write it. */
export function outputKind(dir: string): OutputKind | undefined {
  const has = (f: string) => existsSync(join(dir, f)) && statSync(join(dir, f)).isFile();
  if (has('manifest.json') && String(readJson(join(dir, 'manifest.json'))?.format ?? '').startsWith('cdmm-model/')) return 'run';
  if (has('benchmark.json') && Array.isArray(readJson(join(dir, 'benchmark.json'))?.runs)) return 'benchmark';
  if (has('demo.json') && readJson(join(dir, 'demo.json'))?.cdmm === 'demo') return 'demo';
  if (has('spec.yaml') && has('README.md') && head(join(dir, 'README.md'), 64).startsWith('# Simulated multimodal cohort')) return 'simulate';
  if (isInterruptedBenchmark(dir)) return 'benchmark';
  return undefined;
}

/** The files and folders each kind of cdmm folder holds (docs/RUN-FORMAT.md); anything else is the user's. */
const RUN_FILES = ['manifest.json', 'model.safetensors', 'SHA256SUMS', 'metrics.json', 'insights.json', 'predictions.json', 'history.json', 'fitted.json'];
const SIM_FILES = ['patients.csv', 'labs.csv', 'diagnoses.csv', 'notes.csv', 'imaging.csv', 'spec.yaml', 'README.md'];
const escapeRe = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A leftover of writeFileAtomic (a write the process did not finish) of one of the files cdmm writes. */
const ATOMIC_TMP = new RegExp(`^\\.(${[...RUN_FILES, ...SIM_FILES, 'benchmark.json', 'demo.json'].map(escapeRe).join('|')})\\.tmp-\\d+-\\d+$`);
/** A run folder writeDirAtomic was making in a benchmark's runs/ (mkdtemp's six characters), or set aside while swapping. */
const ATOMIC_RUN_DIR = /^\.[a-z0-9]+-(none|deconfound|dual|full)-s\d+\.tmp-[A-Za-z0-9]{6}(\.old)?$/;
/** A benchmark's run folder name (src/train/benchmark.ts): backbone-debias-sSEED. */
const RUN_NAME = /^[a-z0-9]+-(none|deconfound|dual|full)-s\d+$/;
/** The dataset cache cdmm keeps in a spec folder: the key files and this user's secret (src/data/cache.ts). */
const CACHE_FILE = /^([0-9a-f]{32}\.(json|bin|mac)|cache-secret|\.[0-9a-f]{32}\.(json|bin|mac)\.tmp-\d+-\d+|\.cache-secret\.tmp-\d+-\d+)$/;

/**
 * What `dir` holds that a cdmm folder of `kind` never has (paths relative to `dir`, folders with a trailing /), so
 * that --overwrite cannot delete a user's file that was put inside a cdmm folder. At most `limit` are named.
 */
export function foreignEntries(dir: string, kind: OutputKind, limit = 5): string[] {
  const out: string[] = [];
  const walk = (d: string, k: OutputKind, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (out.length >= limit) return;
      const name = e.name;
      const rel = `${prefix}${name}`;
      const isDir = e.isDirectory(), isFile = e.isFile();
      if (isFile && ATOMIC_TMP.test(name)) continue;
      if (k === 'run' && isFile && RUN_FILES.includes(name)) continue;
      if (k === 'simulate' && isFile && SIM_FILES.includes(name)) continue;
      if (k === 'simulate' && isDir && name === '.cdmm-cache') {
        // The cache holds only cdmm's key files: anything else in it is the user's.
        for (const c of readdirSync(join(d, name), { withFileTypes: true })) {
          if (out.length >= limit) return;
          if (!(c.isFile() && CACHE_FILE.test(c.name))) out.push(`${rel}/${c.name}${c.isDirectory() ? '/' : ''}`);
        }
        continue;
      }
      if (k === 'benchmark' && isFile && name === 'benchmark.json') continue;
      if (k === 'benchmark' && isDir && name === 'runs') {
        for (const r of readdirSync(join(d, name), { withFileTypes: true })) {
          if (out.length >= limit) return;
          // Run folders named as the benchmark names them (a run folder of the user's under another name is theirs).
          if (r.isDirectory() && RUN_NAME.test(r.name) && outputKind(join(d, name, r.name)) === 'run') walk(join(d, name, r.name), 'run', `${rel}/${r.name}/`);
          // A run folder writeDirAtomic left half-made when its process was killed (.NAME.tmp-XXXXXX, or + .old):
          // cdmm's own while it holds only run files.
          else if (r.isDirectory() && ATOMIC_RUN_DIR.test(r.name) && foreignEntries(join(d, name, r.name), 'run', 1).length === 0) continue;
          else out.push(`${rel}/${r.name}${r.isDirectory() ? '/' : ''}`);
        }
        continue;
      }
      if (k === 'demo') {
        if (isFile && ['demo.json', 'nafld-report.html', 'simulated-report.html'].includes(name)) continue;
        const sub: OutputKind | undefined = name === 'simulated-data' ? 'simulate' : name === 'nafld' || name === 'simulated' ? 'benchmark' : undefined;
        if (isDir && sub && outputKind(join(d, name)) === sub) {
          walk(join(d, name), sub, `${rel}/`);
          continue;
        }
      }
      out.push(`${rel}${isDir ? '/' : ''}`);
    }
  };
  walk(dir, kind, '');
  return out;
}

/** Why `dir` may not be replaced by a new folder of `kind` now (null: it may): for the check at the swap itself. */
export function replaceProblem(dir: string, kind: OutputKind): string | null {
  if (!statSync(dir).isDirectory()) return 'it is now a file';
  if (readdirSync(dir).length === 0) return null;
  const found = outputKind(dir);
  if (found !== kind) return found ? `it now holds a cdmm ${KIND_NAME[found]}` : 'it is no longer a folder cdmm wrote';
  const foreign = foreignEntries(dir, kind);
  return foreign.length ? `it now also holds what cdmm does not write there (${foreign.join(', ')})` : null;
}

/** A benchmark folder from before benchmark.json was written at the start: only runs/ with run folders in it. */
export function isInterruptedBenchmark(dir: string): boolean {
  const runs = join(dir, 'runs');
  if (existsSync(join(dir, 'benchmark.json')) || !existsSync(runs) || !statSync(runs).isDirectory()) return false;
  const top = readdirSync(dir).filter((f) => !f.startsWith('.'));
  const inner = readdirSync(runs).filter((f) => !f.startsWith('.'));
  return top.length === 1 && inner.length > 0 && inner.every((r) => outputKind(join(runs, r)) === 'run');
}

const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'already exists',
  EISDIR: 'is a folder',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'name too long',
};

/** A file system error as words: "read-only file system (EROFS)". */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && ERRNO_WORDS[code]) return `${ERRNO_WORDS[code]} (${code})`;
  return (e as Error)?.message ?? String(e);
}

/** The nearest existing folder at or above `path`; an existing file on the way is an error. */
function nearestFolder(path: string, flag: string, shown: string): string {
  let p = dirname(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (!statSync(p).isDirectory()) throw new CdmmError(`${flag} ${shown}: cannot write there: ${p} is a file, not a folder`);
  return p;
}

/** Creates and removes a temporary folder in `dir`: the only sure test that files can be created there. */
function probeWritable(dir: string, flag: string, shown: string): void {
  let tmp: string | undefined;
  try {
    tmp = mkdtempSync(join(dir, '.cdmm-write-test-'));
  } catch (e) {
    throw new CdmmError(`${flag} ${shown}: cannot write in ${dir}: ${errnoWords(e)}`);
  } finally {
    if (tmp) rmdirSync(tmp);
  }
}

export interface OutOptions {
  overwrite?: boolean;
  /** benchmark --resume: an existing folder of this kind is continued, not replaced. */
  resume?: boolean;
  /** The flag as the user spelled it, for messages (default --out). */
  flag?: string;
}

/** What the command may do with its output folder. */
export type OutDirState = 'new' | 'empty' | 'replace' | 'resume';

/**
 * Checks an output folder before the command does any work. A missing or empty folder may be written; an
 * existing folder of `kind` is replaced only with --overwrite (continued with --resume where the command has
 * it); anything else (a file, someone's data, another kind of cdmm folder) is refused whatever the flags.
 */
export function checkOutDir(dir: string, kind: OutputKind, o: OutOptions = {}): OutDirState {
  const flag = o.flag ?? '--out';
  const path = resolve(dir);
  refuseLink(path, flag, dir, `the folder for the ${KIND_NAME[kind]}`);
  if (o.overwrite && o.resume) throw new CdmmError(`${flag} ${dir}: --overwrite and --resume exclude each other (replace the folder, or continue it)`);
  if (!existsSync(path)) {
    probeWritable(nearestFolder(path, flag, dir), flag, dir);
    warnInterruptedReplace(path);
    return 'new';
  }
  const st = statSync(path);
  if (!st.isDirectory()) throw new CdmmError(`${flag} ${dir}: is a file, not a folder; nothing was changed (give the name of a new or empty folder for the ${KIND_NAME[kind]})`);
  const entries = readdirSync(path);
  const found = entries.length ? outputKind(path) : undefined;
  let state: OutDirState;
  if (entries.length === 0) state = 'empty';
  else if (found === kind && o.resume) state = 'resume';
  else if (found === kind && o.overwrite && isInterruptedBenchmark(path))
    // Only runs/ and run folders, no benchmark.json: as likely someone's own collection of runs as an old benchmark.
    throw new CdmmError(
      `${flag} ${dir}: holds only runs/ with run folders and no benchmark.json, so cdmm cannot tell it from a collection of runs of yours; ` +
        `not replaced (continue it with --resume, or remove it yourself)`,
    );
  else if (found === kind && o.overwrite) {
    const foreign = foreignEntries(path, kind);
    if (foreign.length)
      throw new CdmmError(
        `${flag} ${dir}: is a cdmm ${KIND_NAME[kind]} but also holds what cdmm does not write there (${foreign.join(', ')}${foreign.length >= 5 ? ', …' : ''}); ` +
          `not replaced, so that --overwrite deletes nothing of yours: move those out, or remove the folder yourself`,
      );
    state = 'replace';
  }
  else if (found === kind)
    throw new CdmmError(`${flag} ${dir}: holds a cdmm ${KIND_NAME[kind]} already; pass --overwrite to replace it${kind === 'benchmark' ? ', --resume to continue it,' : ''} or choose another ${flag}`);
  else if (found)
    throw new CdmmError(`${flag} ${dir}: holds a cdmm ${KIND_NAME[found]}, not a ${KIND_NAME[kind]}; not replaced (choose another ${flag})`);
  else
    throw new CdmmError(
      `${flag} ${dir}: the folder exists and is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}), and cdmm did not write it; ` +
        `nothing was changed${o.overwrite ? ' (--overwrite replaces only a folder cdmm wrote)' : ''}: choose a new or empty ${flag}`,
    );
  if (state === 'replace' && (process.cwd() + sep).startsWith(realpathSync(path) + sep))
    throw new CdmmError(`${flag} ${dir}: is the folder this command runs in (or holds it); it cannot be replaced from inside: run cdmm from another folder`);
  probeWritable(path, flag, dir);
  probeWritable(dirname(path), flag, dir);
  warnInterruptedReplace(path);
  return state;
}

/** The name a folder set aside by --overwrite starts with, before the process id (setAside, and its warning). */
const asidePrefix = (path: string) => `.${basename(path)}.replaced-`;

/**
 * A folder set aside by an --overwrite that never finished (the process was killed: a synchronous training run
 * cannot stop to put it back) is still next to its replacement: say where, so nothing is lost unseen.
 */
function warnInterruptedReplace(path: string): void {
  const prefix = asidePrefix(path);
  let names: string[] = [];
  try {
    names = readdirSync(dirname(path)).filter((f) => f.startsWith(prefix));
  } catch {
    return;
  }
  for (const f of names) {
    const pid = Number(/^(\d+)-/.exec(f.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
    say('warning', `${join(dirname(path), f)} is the folder an interrupted --overwrite of ${path} set aside; move it back or remove it yourself`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks an output file (predict --out, report --out) before the work: not a folder, in a place that can be
 * written, and an existing file replaced only with --overwrite and only when `ours` recognises it.
 */
export function checkOutFile(file: string, what: string, ours: (text: string) => boolean, o: OutOptions = {}): void {
  const flag = o.flag ?? '--out';
  const path = resolve(file);
  refuseLink(path, flag, file, `the ${what} file`);
  if (existsSync(path)) {
    const st = statSync(path);
    if (st.isDirectory()) throw new CdmmError(`${flag} ${file}: is a folder; expected the name of the ${what} file to write`);
    if (!st.isFile()) throw new CdmmError(`${flag} ${file}: is not a regular file; expected the name of the ${what} file to write`);
    if (!o.overwrite) throw new CdmmError(`${flag} ${file}: exists; pass --overwrite to replace it, or choose another ${flag}`);
    if (!ours(head(path, 4096)))
      throw new CdmmError(`${flag} ${file}: exists and is not a ${what} file written by cdmm; not replaced (choose another ${flag})`);
    probeWritable(dirname(path), flag, file);
    return;
  }
  probeWritable(nearestFolder(path, flag, file), flag, file);
}

/**
 * Writes the output file that checkOutFile passed, checked again at the write (which may come long after):
 * without --overwrite a file that appeared meanwhile is not replaced; with it, only one that cdmm wrote.
 */
export function writeOutFile(file: string, data: string | Uint8Array, what: string, ours: (text: string) => boolean, o: OutOptions = {}): void {
  const flag = o.flag ?? '--out';
  const path = resolve(file);
  writeFileAtomic(path, data, {
    exclusive: !o.overwrite,
    clash: `${flag} ${file}: a file appeared there while the command ran; not replaced (pass --overwrite to replace a ${what} file cdmm wrote, or choose another ${flag})`,
    before: () => {
      if (!o.overwrite || !existsSync(path)) return;
      refuseLink(path, flag, file, `the ${what} file`);
      if (!lstatSync(path).isFile() || !ours(head(path, 4096)))
        throw new CdmmError(`${flag} ${file}: changed while the command ran and is no longer a ${what} file written by cdmm; not replaced (choose another ${flag})`);
    },
  });
}

/** A symbolic link at --out: writing would replace the link, not what it points to. */
function refuseLink(path: string, flag: string, shown: string, what: string): void {
  let link = false;
  try {
    link = lstatSync(path).isSymbolicLink();
  } catch {
    return; // nothing there
  }
  if (link) throw new CdmmError(`${flag} ${shown}: is a symbolic link; give the path of ${what} itself (nothing was changed)`);
}

/** The start of a predictions file written by `cdmm predict` (src/serve/format.ts). */
export function isPredictionsFile(text: string): boolean {
  // The JSON form's first keys as src/serve/format.ts writes them: "run", then "dataset" (not any {"run": ...}).
  return /^\{\s*"run":\s*"(?:[^"\\]|\\.)*",\s*"dataset":/.test(text) || /^id,(label,)?p_do,p_factual,mask,pattern,modalities_used/.test(text);
}

/** The start of an HTML report written by `cdmm report` (src/report/html.ts). */
export function isCdmmReport(text: string): boolean {
  return text.startsWith('<!DOCTYPE html>') && /<title>cdmm (benchmark )?report: /.test(text);
}

/**
 * Moves an existing output folder aside while a long command writes its replacement in place: `commit` deletes
 * the old one once the new one is complete, `rollback` puts it back after a failure.
 */
export function setAside(dir: string): { old: string; commit(): void; rollback(): void } {
  const path = resolve(dir);
  const old = join(dirname(path), `${asidePrefix(path)}${process.pid}-${Date.now()}`);
  renameSync(path, old);
  return {
    old,
    commit: () => rmSync(old, { recursive: true, force: true }),
    rollback: () => {
      rmSync(path, { recursive: true, force: true });
      renameSync(old, path);
    },
  };
}
