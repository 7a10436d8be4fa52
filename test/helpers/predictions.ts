// Predictions compared as the README promises: every number within PREDICTION_TOLERANCE, everything else
// (ids, masks, patterns, which modalities, which counterfactuals are defined) exactly.
import { expect } from 'vitest';
import { PREDICTION_TOLERANCE } from '../../src/serve/predictor.js';

function walk(a: unknown, b: unknown, path: string, tol: number): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${path}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(a.length, `${path}.length`).toBe(b.length);
    a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, tol));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(a).sort(), `${path} keys`).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, tol);
    return;
  }
  expect(a, path).toEqual(b);
}

/** Asserts that two prediction lists (or single predictions) agree within the stated tolerance. */
export function expectSamePredictions(actual: unknown, expected: unknown, tol = PREDICTION_TOLERANCE): void {
  walk(actual, expected, 'predictions', tol);
}
