// The contract between the data layer (spec → tables → arrays) and the model layer (arrays → tensors).
// Everything here is plain typed arrays, so the data layer never depends on the engine.

export type ModalityType = 'tabular' | 'timeseries' | 'codes' | 'text' | 'embedding';

/** What the model needs to know about one modality to build its encoder. */
export interface ModalityInfo {
  name: string;
  type: ModalityType;
  /**
   * Per-patient shape of the modality's array.
   * tabular/codes/text/embedding: [D]. timeseries: [T, C] where C = 3·V channels per bin
   * (V values, V observation masks, V times-since-last-observation), in that order.
   */
  shape: number[];
  /** Human-readable names of the feature columns (length D, or C for time series), for insights and predict. */
  features: string[];
  /** timeseries only: number of variables V. */
  variables?: number;
}

/** One split's patients, as dense arrays in patient order. */
export interface SplitArrays {
  ids: string[];
  /** 0/1 labels (Float32 for direct use as BCE targets). */
  labels: Float32Array;
  /** Missingness mask, row-major N×K (K = modalities in spec order), 1 = observed. Every row has ≥ 1 one. */
  mask: Uint8Array;
  /** modality name → Float32Array of N × prod(shape), zeros where the modality is missing. Never NaN/Inf. */
  values: Record<string, Float32Array>;
  /** Optional per-patient true risk P(Y | U) (simulated data only), for the oracle AUROC. */
  trueRisk?: Float32Array;
  /** The spec's reference score per patient (e.g. APACHE IVa), NaN where it is missing; only to score. */
  reference?: Float32Array;
}

export type SplitName = 'train' | 'val' | 'test' | 'shift';

export interface PreparedDataset {
  /** Dataset name from the spec. */
  name: string;
  /** Modalities in spec order (mask column k ↔ modalities[k]). */
  modalities: ModalityInfo[];
  /** train/val/test always; shift only when the spec defines a shift environment. */
  splits: Partial<Record<SplitName, SplitArrays>> & { train: SplitArrays; val: SplitArrays; test: SplitArrays };
  /** Fitted preprocessing state (vocabularies, statistics, hash settings): JSON-serialisable. */
  state: unknown;
  /** The spec's reference score (spec.reference), when there is one. */
  reference?: { name: string; column: string };
  /** Cohort accounting for `inspect`. */
  cohort: {
    candidates: number;
    included: number;
    exclusions: Record<string, number>;
    /** With cohort.patient: the column and how many distinct patients the included rows belong to. */
    patient_key?: { column: string; distinct: number };
    /** Problems found while reading the tables that did not stop the build (e.g. ids that nearly match). */
    warnings?: string[];
    /** Per modality table (other than the cohort's): its distinct ids, and how many of them are cohort rows. */
    table_ids?: Record<string, { ids: number; in_cohort: number; link?: string }>;
  };
}
