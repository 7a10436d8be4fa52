// Weights in the safetensors format (the one Python's `safetensors` package reads): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__}, then the raw bytes.
import { checkJsonValues, MAX_WEIGHTS_BYTES, readBounded } from '../util/files.js';
import { repeatedKey } from '../util/json-keys.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Tensor, tensor } from './tensor.js';
import { DTYPE_BYTES, viewAs, type DType } from './dtype.js';

const TO_ST: Record<DType, string> = { float32: 'F32', float64: 'F64', int64: 'I64', bool: 'BOOL', int32: 'I32' };
const FROM_ST: Record<string, DType> = { F32: 'float32', F64: 'float64', I64: 'int64', BOOL: 'bool', I32: 'int32' };

/** Most bytes a header may hold (far above cdmm's few kB; below safetensors' own 100 MB limit). */
export const MAX_HEADER_BYTES = 16 << 20;

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }

/** Serialises named tensors (and string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = [...(tensors instanceof Map ? tensors : Object.entries(tensors))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, Entry | Record<string, string>> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const arr = t.toArray();
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // align the data start to 8 bytes
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const b of blobs) { out.set(b, p); p += b.byteLength; }
  return out;
}

/** Parses safetensors bytes; every structural problem is reported with `source` (e.g. the file name). */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => { throw new Error(`${source}: damaged safetensors file: ${why}`); };
  if (buf.byteLength < 8) fail('shorter than its 8-byte header length');
  const n = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  if (n <= 0 || 8 + n > buf.byteLength) fail(`header length ${n} does not fit in ${buf.byteLength} bytes`);
  // The header lists tensors, a few hundred bytes each: cdmm's largest is a few kB, and safetensors' own reader
  // refuses more than 100 MB. Parsed uncapped, a forged 900 MB header of `[[[…` or `{},…` filled memory.
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} is more than a header may hold (${MAX_HEADER_BYTES})`);
  const headBytes = buf.subarray(8, 8 + n);
  checkJsonValues(headBytes, `${source} (its header)`);
  // A tensor named twice: JSON.parse keeps the last, so the file reads otherwise than it was written.
  const twice = repeatedKey(Buffer.from(headBytes).toString('utf8'));
  if (twice) fail(`tensor ${JSON.stringify(String(twice[0]).slice(0, 80))} is named twice in the header`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch {
    return fail('header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) fail('__metadata__ is not an object of strings');
  const tensors = new Map<string, Tensor>();
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as Entry;
    const dt = FROM_ST[e?.dtype];
    if (!dt) fail(`tensor ${name}: unsupported dtype ${String(e?.dtype)}`);
    // Dimensions are whole numbers ≥ 0 (a negative pair multiplies to a positive count and reached libtorch).
    if (!Array.isArray(e.shape) || !e.shape.every((x) => Number.isSafeInteger(x) && x >= 0)) fail(`tensor ${name}: shape ${JSON.stringify(e.shape)?.slice(0, 80)} is not a list of sizes ≥ 0`);
    const [b, end] = (Array.isArray(e.data_offsets) ? e.data_offsets : []) as number[];
    const count = e.shape.reduce((a, x) => a * x, 1);
    if (!(Number.isSafeInteger(b) && Number.isSafeInteger(end) && b >= 0 && end <= dataLen && end - b === count * DTYPE_BYTES[dt!])) fail(`tensor ${name}: data_offsets [${b}, ${end}] do not match shape [${e.shape}]`);
    spans.push([b, end, name]);
    const bytes = new Uint8Array(end - b); // a copy, aligned for the typed array (Buffer.slice would share the pool)
    bytes.set(buf.subarray(dataStart + b, dataStart + end));
    const arr = viewAs(bytes.buffer, dt);
    tensors.set(name, tensor(arr, e.shape, dt));
  }
  // Tensors' bytes do not overlap (one region read as two tensors is a damaged or forged file).
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (let k = 1; k < spans.length; k++)
    if (spans[k][0] < spans[k - 1][1]) fail(`tensors ${spans[k - 1][2]} and ${spans[k][2]}: their data_offsets overlap`);
  // …and cover the data exactly, as safetensors' own reader requires: bytes no tensor describes are not a model's.
  let covered = 0;
  for (const [b, end] of spans) if (b === covered) covered = end;
  if (covered !== dataLen) fail(`${dataLen - covered} bytes of data are not any tensor's (the tensors' data_offsets must cover the data without gaps)`);
  return { tensors, metadata };
}


export function saveSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  return decodeSafetensors(new Uint8Array(readBounded(path, MAX_WEIGHTS_BYTES)), path);
}
