// Data types and their codes shared with native/handles.cc.
export type DType = 'float32' | 'float64' | 'int64' | 'bool' | 'int32';

export const DTYPE_CODE: Record<DType, number> = { float32: 0, float64: 1, int64: 2, bool: 3, int32: 4 };
export const CODE_DTYPE: DType[] = ['float32', 'float64', 'int64', 'bool', 'int32'];
export const DTYPE_BYTES: Record<DType, number> = { float32: 4, float64: 8, int64: 8, bool: 1, int32: 4 };

export type TypedArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  return 'bool';
}

export function viewAs(buf: ArrayBuffer, dt: DType): AnyTypedArray {
  switch (dt) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'bool': return new Uint8Array(buf);
  }
}
