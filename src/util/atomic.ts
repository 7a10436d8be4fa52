import { CdmmError } from './errors.js';
import { linkSync, mkdirSync, renameSync, rmSync, writeFileSync, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export interface AtomicFileOptions {
  /** Only where no file is at `path` at the moment of writing (a hard link, which the system refuses over one). */
  exclusive?: boolean;
  /** The error when `exclusive` finds a file there. */
  clash?: string;
  /** Called just before the new file takes `path`: it may refuse by throwing. */
  before?: () => void;
}

/** Writes a file so that readers see either the old content or the whole new one, never half of it. */
export function writeFileAtomic(path: string, data: string | Uint8Array, o: AtomicFileOptions = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, data);
    o.before?.();
    if (o.exclusive) {
      const clash = () => new CdmmError(o.clash ?? `${path}: a file appeared there while the command ran; not replaced`);
      try {
        linkSync(tmp, path);
        rmSync(tmp, { force: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw clash();
        // A file system without hard links: checked, then renamed (a narrow window instead of none).
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
        if (existsSync(path)) throw clash();
        renameSync(tmp, path);
      }
    } else renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds a folder in a temporary sibling, then swaps it in with rename, so a failure leaves no partial folder.
 * An existing folder at `dir` is replaced only after `fill` succeeds.
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => Promise<void> | void,
  o: { replaceable?: (dir: string) => string | null; mayReplace?: boolean } = {},
): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(join(dirname(dir), `.${basename(dir)}.tmp-`));
  try {
    await fill(tmp);
    // Checked again at the swap, which may come hours after the command's first check: what appeared in the
    // folder meanwhile is not deleted; the new folder is kept beside it instead. `mayReplace: false` (no
    // --overwrite): a folder that is there now and was not, or was empty, is not replaced even if cdmm wrote it.
    const filled = existsSync(dir) && o.mayReplace === false && statSync(dir).isDirectory() && readdirSync(dir).length > 0;
    const why = filled ? 'it was filled while this command ran (another cdmm command?) and --overwrite was not given' : existsSync(dir) && o.replaceable ? o.replaceable(dir) : null;
    if (why) {
      const kept = `${dir}.new-${process.pid}-${Date.now()}`;
      renameSync(tmp, kept);
      throw new CdmmError(`${dir}: not replaced: ${why}; the new folder is at ${kept}`);
    }
    if (existsSync(dir)) {
      const old = `${tmp}.old`;
      renameSync(dir, old);
      renameSync(tmp, dir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dir);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
