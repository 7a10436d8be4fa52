// Command lines shown to the user as something to run: written with shellLine, and read back from files (a
// benchmark.json may have been edited) only when they are exactly what shellLine writes for a cdmm command, so a
// stored "… && curl … | sh" is never printed as advice.

const PLAIN = /^[\w@%+=:,./-]+$/;

/** A command line as one shell-quoted string. */
export function shellLine(args: string[]): string {
  return args.map((a) => (PLAIN.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The arguments of a line shellLine wrote, or undefined when the line is anything else. */
export function parseShellLine(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (out.length) {
      if (line[i] !== ' ') return undefined;
      i++;
    }
    if (line[i] === "'") {
      let arg = '';
      i++;
      for (;;) {
        const j = line.indexOf("'", i);
        if (j < 0) return undefined;
        arg += line.slice(i, j);
        i = j + 1;
        if (line.startsWith("\\''", i)) { arg += "'"; i += 3; continue; }
        break;
      }
      out.push(arg);
    } else {
      const j = line.indexOf(' ', i);
      const tok = line.slice(i, j < 0 ? line.length : j);
      if (!PLAIN.test(tok)) return undefined;
      out.push(tok);
      i += tok.length;
    }
  }
  return shellLine(out) === line ? out : undefined;
}

/** Control characters and bidirectional overrides: printed raw, they can make a line look like another one. */
const DECEPTIVE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

/**
 * A stored resume line, `cdmm <command> … --resume`, when it is one that shellLine wrote (no --overwrite, nothing
 * that changes how the terminal shows it); else undefined (not shown).
 */
export function safeCdmmLine(line: unknown, command: string): string | undefined {
  if (typeof line !== 'string' || line.length > 10_000 || DECEPTIVE.test(line)) return undefined;
  const args = parseShellLine(line);
  if (!args || args[0] !== 'cdmm' || args[1] !== command || args.at(-1) !== '--resume' || args.includes('--overwrite')) return undefined;
  return line;
}
