import { CdmmError } from './errors.js';
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Writes a file so that readers see either the old content or the whole new one, never half of it. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds a folder in a temporary sibling, then swaps it in with rename, so a failure leaves no partial folder.
 * An existing folder at `dir` is replaced only after `fill` succeeds.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void, o: { replaceable?: (dir: string) => string | null } = {}): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(join(dirname(dir), `.${basename(dir)}.tmp-`));
  try {
    await fill(tmp);
    // Checked again at the swap, which may come hours after the command's first check: what appeared in the
    // folder meanwhile is not deleted; the new folder is kept beside it instead.
    const why = existsSync(dir) && o.replaceable ? o.replaceable(dir) : null;
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
