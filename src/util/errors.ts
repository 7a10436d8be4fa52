/**
 * An error the user can act on: bad input, a missing file, a spec field with the wrong type.
 * The CLI prints its message alone (no stack) and exits non-zero.
 */
export class CdmmError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CdmmError';
  }
}

export function isCdmmError(e: unknown): e is CdmmError {
  return e instanceof CdmmError;
}
