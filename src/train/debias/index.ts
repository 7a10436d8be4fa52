// The registry of training-time debiasing parts, run in this order before the main training. A new part is one
// file in this folder (a DebiasPart, see part.ts) plus one line here.
import { deconfoundPart } from './deconfound.js';
import { dualPart } from './dual.js';
import type { DebiasPart } from './part.js';

export const DEBIAS_PARTS: DebiasPart[] = [deconfoundPart, dualPart];

export type { DebiasPart, PartContext, PreparedPart, ResolvedTrainOptions } from './part.js';
