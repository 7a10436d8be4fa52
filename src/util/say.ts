// The lines cdmm prints on stderr (`cdmm: note:`, `cdmm: warning:`, `cdmm: error:`). Their text quotes what specs,
// files and run folders hold (column names, values, paths): control and bidirectional-override characters in it are
// written as escapes (\u001b), so that a crafted name cannot move the cursor, recolour or reorder the terminal.
const CONTROL_OR_BIDI = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';
/** Control and bidirectional-override characters: a terminal acts on them, and they can make one name look like another. */
export const UNPRINTABLE = new RegExp(`[${CONTROL_OR_BIDI}]`);
/** The same but the newline (messages may span lines). */
const UNPRINTABLE_ALL = new RegExp(`(?!\\n)[${CONTROL_OR_BIDI}]`, 'g');

/** `text` with every control character but the newline written as a \uXXXX escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes one `cdmm: KIND: text` line on stderr. */
export function say(kind: 'note' | 'warning' | 'error', text: string): void {
  process.stderr.write(`cdmm: ${kind}: ${printable(text)}\n`);
}
