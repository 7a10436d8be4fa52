// What a prediction is (the answer of `cdmm predict` and POST /v1/predict), and the error of bad input.
import { CdmmError } from '../util/errors.js';
import type { Change } from './variants.js';

export interface Counterfactual {
  /** 'observed': the missing modality made observed at typical values; 'removed': the present one made missing. */
  change: Change;
  mask: string;
  pattern: string;
  p_do: number;
  p_factual: number;
}

export interface ModalityPrediction {
  observed: boolean;
  /** null when undefined: removing the only observed modality, or no typical values for a missing one. */
  counterfactual: Counterfactual | null;
  /** Present modalities: p_do − p_do with the modality removed (null when it is the only one). Missing: null. */
  contribution: number | null;
}

export interface PatientPrediction {
  id: string;
  /** The debiased risk (back-door adjusted p_do; σ(logit) for runs without deconfounding), through the run's calibration. */
  p_do: number;
  /** The factual risk σ(h(c, e_{m_i})) for the patient's own pattern, through the same calibration as p_do. */
  p_factual: number;
  /** Observed modalities as 0/1 in the run's modality order. */
  mask: string;
  /** The dictionary pattern the mask was assigned to (rare masks merge into the nearest frequent one). */
  pattern: string;
  modalities_used: string[];
  modalities: Record<string, ModalityPrediction>;
  /** Outcome label, when the input was a spec that defines one (external validation). */
  label?: number;
  /**
   * What in the patient's data the model could not use as given: values or codes it never saw in training (scored
   * as <other>), rows of a modality none of which it could use (outside the window, or variables it does not know).
   */
  notes?: string[];
}

export interface PredictionSet {
  predictions: PatientPrediction[];
  /** Patients of the input left out by the data layer, by reason. */
  excluded?: Record<string, number>;
  /** Table files input: the spec's tables that were not found (their modalities count as missing). */
  missingTables?: string[];
  /** Table files input: modalities training had that these patients all but lack (src/run/coverage.ts). */
  warnings?: string[];
}

export interface InputIssue {
  path: string;
  message: string;
}

/** A bad request or input file; `issues` name the field paths. */
export class InputError extends CdmmError {
  constructor(readonly issues: InputIssue[], where = '') {
    super(issues.map((i) => `${where}${i.path}: ${i.message}`).join('\n'));
    this.name = 'InputError';
  }
}

/**
 * How far a patient's numbers (risks, counterfactual risks, contributions) may move with the rest of the request:
 * libtorch's float32 CPU kernels sum in an order that depends on the batch size and the CPU, so a patient scored
 * alone and in a batch agree to about 1e-7, not bit for bit. The README states this bound; tests use it.
 */
export const PREDICTION_TOLERANCE = 1e-6;

/**
 * In a { "records": [...] } document (a request body, a predict --input file) nothing beside "records" is read: the
 * first other key, quoted and clipped for a message, or undefined.
 */
export function keyBesideRecords(doc: object): string | undefined {
  const other = Object.keys(doc).find((k) => k !== 'records');
  return other === undefined ? undefined : JSON.stringify(other.length > 40 ? `${other.slice(0, 40)}…` : other);
}
