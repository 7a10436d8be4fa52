// Process-wide engine settings: seeding, threads, gradient mode.
import { native } from './native.js';

/** Seeds libtorch's generator: the same seed gives the same initial weights, draws and shuffles. */
export function manualSeed(seed: number): void { native.manualSeed(seed); }
/** Intra-op threads (default 1: on small machines more threads ran slower, see ENGINE-NOTES). */
export function setNumThreads(n: number): void { native.setNumThreads(n); }
export function getNumThreads(): number { return native.getNumThreads(); }
export function libtorchVersion(): string { return native.version(); }

/** Runs fn with gradient recording off (inference, metric computation, weight updates). */
export function noGrad<R>(fn: () => R): R {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
export function isGradEnabled(): boolean { return native.isGradEnabled(); }
