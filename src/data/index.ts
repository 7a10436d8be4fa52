// The data layer's public API: specs, building prepared datasets, transforming new patients, inspecting, simulating.
export { loadSpec, parseSpec, specSchema, type Spec, type ModalitySpec } from './spec.js';
export { prepareDataset, type PrepareOptions, type DataState } from './build.js';
export { transformPatients, patientRecordSchema, patientRecordSchemaFor, parseRecords, type PatientRecord, type TransformSource, type TransformResult } from './transform.js';
export { summarize, formatSummary, type DatasetSummary, type PatternRow } from './summary.js';
export { simulate, type SimulateOptions } from './simulate.js';
export type * from './types.js';
