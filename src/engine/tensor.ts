// The Tensor: a typed handle to a libtorch tensor. Every op returns a new Tensor; inputs are never changed,
// except by the explicitly named in-place methods (ending in _).
import { native } from './native.js';
import { track, release, type Tracked } from './scope.js';
import { CODE_DTYPE, DTYPE_CODE, dtypeOfArray, viewAs, type AnyTypedArray, type DType } from './dtype.js';

const U = { neg: 0, exp: 1, log: 2, sqrt: 3, abs: 4, sigmoid: 5, tanh: 6, relu: 7, gelu: 8, logSigmoid: 9, softplus: 10,
  reciprocal: 11, square: 12, log1p: 13, sign: 14, floor: 15, ceil: 16, round: 17, logicalNot: 18, isnan: 19, sin: 20,
  cos: 21, isfinite: 22, rsqrt: 23, expm1: 24 } as const;
const B = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
  logicalAnd: 13, logicalOr: 14, rsub: 15, remainder: 16, atan2: 17 } as const;
const R = { sum: 0, mean: 1, max: 2, min: 3, argmax: 4, argmin: 5, logsumexp: 6, std: 7, var: 8, prod: 9, all: 10, any: 11,
  median: 12, norm: 13 } as const;

export type Dims = number | number[];
export type TensorOrScalar = Tensor | number;

function wrap(h: number): Tensor {
  return new Tensor(h);
}

export class Tensor implements Tracked, Disposable {
  readonly isTensor = true as const;
  /** Handle into the addon's table; -1 once disposed. */
  h: number;

  /** @internal Use the factory functions (tensor, zeros, …) instead. */
  constructor(h: number) {
    this.h = h;
    track(this);
  }

  private get id(): number {
    if (this.h < 0) throw new Error('tensor was disposed');
    return this.h;
  }

  get shape(): number[] { return native.shape(this.id); }
  get dtype(): DType { return CODE_DTYPE[native.dtype(this.id)]; }
  get ndim(): number { return native.dim(this.id); }
  get numel(): number { return native.numel(this.id); }
  get disposed(): boolean { return this.h < 0; }
  size(dim: number): number { const s = this.shape; return s[dim < 0 ? s.length + dim : dim]; }

  dispose(): void { release(this); }
  [Symbol.dispose](): void { release(this); }

  // ---- data out ----
  /** A copy of the data as a typed array matching the dtype (int64 → BigInt64Array, bool → Uint8Array). */
  toArray(): AnyTypedArray { const dt = this.dtype; return viewAs(native.toBuffer(this.id), dt); }
  /** A copy of the data as float32 (converting if needed). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return new Float32Array(native.toBuffer(this.id));
    const t = this.to('float32');
    try { return new Float32Array(native.toBuffer(t.id)); } finally { t.dispose(); }
  }
  /** A copy of the data as plain numbers. */
  toNumbers(): number[] { return Array.from(this.toArray() as ArrayLike<number | bigint>, Number); }
  item(): number { return native.item(this.id); }
  toString(): string { return `Tensor(${this.dtype}[${this.shape.join(',')}])`; }

  // ---- dtype and copies ----
  to(dt: DType): Tensor { return wrap(native.to(this.id, DTYPE_CODE[dt])); }
  float(): Tensor { return this.to('float32'); }
  long(): Tensor { return this.to('int64'); }
  clone(): Tensor { return wrap(native.clone(this.id)); }
  contiguous(): Tensor { return wrap(native.contiguous(this.id)); }

  // ---- shape and indexing ----
  reshape(...shape: number[] | [number[]]): Tensor { return wrap(native.reshape(this.id, flat(shape))); }
  view(...shape: number[] | [number[]]): Tensor { return wrap(native.view(this.id, flat(shape))); }
  transpose(a: number, b: number): Tensor { return wrap(native.transpose(this.id, a, b)); }
  /** Transpose of a matrix (last two dims). */
  get T(): Tensor { return this.transpose(-2, -1); }
  permute(...dims: number[] | [number[]]): Tensor { return wrap(native.permute(this.id, flat(dims))); }
  squeeze(dim?: number): Tensor { return wrap(native.squeeze(this.id, dim)); }
  unsqueeze(dim: number): Tensor { return wrap(native.unsqueeze(this.id, dim)); }
  expand(...shape: number[] | [number[]]): Tensor { return wrap(native.expand(this.id, flat(shape))); }
  repeat(...reps: number[] | [number[]]): Tensor { return wrap(native.repeat(this.id, flat(reps))); }
  flatten(start = 0, end = -1): Tensor { return wrap(native.flatten(this.id, start, end)); }
  /** Reverses the order along each of dims (a copy). */
  flip(...dims: number[] | [number[]]): Tensor { return wrap(native.flip(this.id, flat(dims))); }
  /** Python's t[start:end:step] along dim. */
  slice(dim: number, start: number | null = null, end: number | null = null, step = 1): Tensor {
    return wrap(native.slice(this.id, dim, start, end, step));
  }
  narrow(dim: number, start: number, length: number): Tensor { return wrap(native.narrow(this.id, dim, start, length)); }
  select(dim: number, index: number): Tensor { return wrap(native.select(this.id, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(native.indexSelect(this.id, dim, index.id)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(native.gather(this.id, dim, index.id)); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(native.scatter(this.id, dim, index.id, src.id)); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(native.scatterAdd(this.id, dim, index.id, src.id)); }
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(this.id, mask.id, value)); }
  split(sizeOrSizes: number | number[], dim = 0): Tensor[] { return native.split(this.id, sizeOrSizes, dim).map(wrap); }
  chunk(n: number, dim = 0): Tensor[] { return this.split(Math.ceil(this.size(dim) / n), dim); }

  // ---- elementwise ----
  private bin(op: number, o: TensorOrScalar): Tensor {
    return wrap(typeof o === 'number' ? native.binaryScalar(op, this.id, o) : native.binary(op, this.id, o.id));
  }
  add(o: TensorOrScalar): Tensor { return this.bin(B.add, o); }
  sub(o: TensorOrScalar): Tensor { return this.bin(B.sub, o); }
  /** o − this. */
  rsub(o: TensorOrScalar): Tensor { return this.bin(B.rsub, o); }
  mul(o: TensorOrScalar): Tensor { return this.bin(B.mul, o); }
  div(o: TensorOrScalar): Tensor { return this.bin(B.div, o); }
  pow(o: TensorOrScalar): Tensor { return this.bin(B.pow, o); }
  remainder(o: TensorOrScalar): Tensor { return this.bin(B.remainder, o); }
  maximum(o: TensorOrScalar): Tensor { return this.bin(B.maximum, o); }
  minimum(o: TensorOrScalar): Tensor { return this.bin(B.minimum, o); }
  eq(o: TensorOrScalar): Tensor { return this.bin(B.eq, o); }
  ne(o: TensorOrScalar): Tensor { return this.bin(B.ne, o); }
  lt(o: TensorOrScalar): Tensor { return this.bin(B.lt, o); }
  le(o: TensorOrScalar): Tensor { return this.bin(B.le, o); }
  gt(o: TensorOrScalar): Tensor { return this.bin(B.gt, o); }
  ge(o: TensorOrScalar): Tensor { return this.bin(B.ge, o); }
  logicalAnd(o: Tensor): Tensor { return this.bin(B.logicalAnd, o); }
  logicalOr(o: Tensor): Tensor { return this.bin(B.logicalOr, o); }
  private un(op: number): Tensor { return wrap(native.unary(op, this.id)); }
  neg(): Tensor { return this.un(U.neg); }
  exp(): Tensor { return this.un(U.exp); }
  expm1(): Tensor { return this.un(U.expm1); }
  log(): Tensor { return this.un(U.log); }
  log1p(): Tensor { return this.un(U.log1p); }
  sqrt(): Tensor { return this.un(U.sqrt); }
  rsqrt(): Tensor { return this.un(U.rsqrt); }
  abs(): Tensor { return this.un(U.abs); }
  square(): Tensor { return this.un(U.square); }
  reciprocal(): Tensor { return this.un(U.reciprocal); }
  sign(): Tensor { return this.un(U.sign); }
  floor(): Tensor { return this.un(U.floor); }
  ceil(): Tensor { return this.un(U.ceil); }
  round(): Tensor { return this.un(U.round); }
  sin(): Tensor { return this.un(U.sin); }
  cos(): Tensor { return this.un(U.cos); }
  sigmoid(): Tensor { return this.un(U.sigmoid); }
  tanh(): Tensor { return this.un(U.tanh); }
  relu(): Tensor { return this.un(U.relu); }
  gelu(): Tensor { return this.un(U.gelu); }
  logSigmoid(): Tensor { return this.un(U.logSigmoid); }
  softplus(): Tensor { return this.un(U.softplus); }
  logicalNot(): Tensor { return this.un(U.logicalNot); }
  isnan(): Tensor { return this.un(U.isnan); }
  isfinite(): Tensor { return this.un(U.isfinite); }
  clamp(min: number | null, max: number | null = null): Tensor { return wrap(native.clamp(this.id, min, max)); }
  clampMin(min: number): Tensor { return this.clamp(min, null); }

  // ---- reductions: dims undefined = over everything ----
  private red(op: number, dims: Dims | undefined, keepdim: boolean, unbiased?: boolean): Tensor {
    return wrap(native.reduce(op, this.id, dims ?? null, keepdim, unbiased));
  }
  sum(dims?: Dims, keepdim = false): Tensor { return this.red(R.sum, dims, keepdim); }
  mean(dims?: Dims, keepdim = false): Tensor { return this.red(R.mean, dims, keepdim); }
  /** Maximum values (like torch.amax); use argmax for indices. */
  max(dims?: Dims, keepdim = false): Tensor { return this.red(R.max, dims, keepdim); }
  min(dims?: Dims, keepdim = false): Tensor { return this.red(R.min, dims, keepdim); }
  argmax(dim?: number, keepdim = false): Tensor { return this.red(R.argmax, dim, keepdim); }
  argmin(dim?: number, keepdim = false): Tensor { return this.red(R.argmin, dim, keepdim); }
  logsumexp(dims?: Dims, keepdim = false): Tensor { return this.red(R.logsumexp, dims, keepdim); }
  std(dims?: Dims, keepdim = false, unbiased = true): Tensor { return this.red(R.std, dims, keepdim, unbiased); }
  var(dims?: Dims, keepdim = false, unbiased = true): Tensor { return this.red(R.var, dims, keepdim, unbiased); }
  prod(dim?: number, keepdim = false): Tensor { return this.red(R.prod, dim, keepdim); }
  all(dim?: number, keepdim = false): Tensor { return this.red(R.all, dim, keepdim); }
  any(dim?: number, keepdim = false): Tensor { return this.red(R.any, dim, keepdim); }
  /** Median (the lower of the two middle values, as in PyTorch). */
  median(dim?: number, keepdim = false): Tensor { return this.red(R.median, dim, keepdim); }
  norm(dims?: Dims, keepdim = false): Tensor { return this.red(R.norm, dims, keepdim); }
  cumsum(dim: number): Tensor { return wrap(native.cumsum(this.id, dim)); }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.sort(this.id, dim, descending).map(wrap);
    return { values: v, indices: i };
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native.topk(this.id, k, dim, largest).map(wrap);
    return { values: v, indices: i };
  }

  // ---- linear algebra and activations over a dim ----
  matmul(o: Tensor): Tensor { return wrap(native.matmul(this.id, o.id)); }
  bmm(o: Tensor): Tensor { return wrap(native.bmm(this.id, o.id)); }
  outer(o: Tensor): Tensor { return wrap(native.outer(this.id, o.id)); }
  trace(): Tensor { return wrap(native.trace(this.id)); }
  softmax(dim: number): Tensor { return wrap(native.softmax(this.id, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(native.logSoftmax(this.id, dim)); }
  allclose(o: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return native.allclose(this.id, o.id, rtol, atol); }
  equal(o: Tensor): boolean { return native.equal(this.id, o.id); }

  // ---- autograd ----
  get requiresGrad(): boolean { return native.requiresGrad(this.id); }
  set requiresGrad(on: boolean) { native.setRequiresGrad(this.id, on); }
  requiresGrad_(on = true): this { native.setRequiresGrad(this.id, on); return this; }
  backward(grad?: Tensor, retainGraph = false): void { native.backward(this.id, grad ? grad.id : -1, retainGraph); }
  /** The accumulated gradient (a new handle on it), or null when none. */
  get grad(): Tensor | null { const g = native.grad(this.id); return g < 0 ? null : wrap(g); }
  zeroGrad(): void { native.zeroGrad(this.id); }
  detach(): Tensor { return wrap(native.detach(this.id)); }

  // ---- in place (no autograd): initialisers and weight loading ----
  copy_(src: Tensor): this { native.copy_(this.id, src.id); return this; }
  uniform_(a: number, b: number): this { native.uniform_(this.id, a, b); return this; }
  normal_(mean = 0, std = 1): this { native.normal_(this.id, mean, std); return this; }
  fill_(v: number): this { native.fill_(this.id, v); return this; }
}

function flat(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}

// ---- factories ----

type Nested = number | boolean | Nested[];

function inferShape(v: Nested): number[] {
  const s: number[] = [];
  let x: Nested = v;
  while (Array.isArray(x)) { s.push(x.length); x = x[0]; }
  return s;
}

/**
 * A tensor from a typed array (dtype from its type unless given) or nested arrays of numbers (float32 by default).
 * Int32Array input with dtype int64 is widened.
 */
export function tensor(data: AnyTypedArray | Nested, shape?: number[], dtype?: DType): Tensor {
  if (ArrayBuffer.isView(data)) {
    const src = data as AnyTypedArray;
    const sh = shape ?? [src.length];
    const own = dtypeOfArray(src);
    const dt = dtype ?? own;
    if (dt === own) return wrap(native.fromBuffer(src, sh, DTYPE_CODE[dt]));
    const tmp = wrap(native.fromBuffer(src, sh, DTYPE_CODE[own]));
    try { return tmp.to(dt); } finally { tmp.dispose(); }
  }
  const dt = dtype ?? 'float32';
  const sh = shape ?? inferShape(data);
  const flatVals = (Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data]) as (number | boolean)[];
  const nums = flatVals.map(Number);
  switch (dt) {
    case 'float32': return wrap(native.fromBuffer(Float32Array.from(nums), sh, 0));
    case 'float64': return wrap(native.fromBuffer(Float64Array.from(nums), sh, 1));
    case 'int64': return wrap(native.fromBuffer(BigInt64Array.from(nums.map((x) => BigInt(Math.trunc(x)))), sh, 2));
    case 'bool': return wrap(native.fromBuffer(Uint8Array.from(nums.map((x) => (x ? 1 : 0))), sh, 3));
    case 'int32': return wrap(native.fromBuffer(Int32Array.from(nums), sh, 4));
  }
}

export function scalar(v: number, dtype: DType = 'float32'): Tensor { return wrap(native.full([], v, DTYPE_CODE[dtype])); }
export function zeros(shape: number[], dtype: DType = 'float32'): Tensor { return wrap(native.zeros(shape, DTYPE_CODE[dtype])); }
export function ones(shape: number[], dtype: DType = 'float32'): Tensor { return wrap(native.ones(shape, DTYPE_CODE[dtype])); }
export function full(shape: number[], value: number, dtype: DType = 'float32'): Tensor {
  return wrap(native.full(shape, value, DTYPE_CODE[dtype]));
}
export function arange(start: number, end?: number, step = 1, dtype: DType = 'int64'): Tensor {
  if (end === undefined) { end = start; start = 0; }
  return wrap(native.arange(start, end, step, DTYPE_CODE[dtype]));
}
export function eye(n: number, m = n, dtype: DType = 'float32'): Tensor { return wrap(native.eye(n, m, DTYPE_CODE[dtype])); }
/** Uniform [0, 1), from the global seed. */
export function rand(shape: number[], dtype: DType = 'float32'): Tensor { return wrap(native.rand(shape, DTYPE_CODE[dtype])); }
/** Standard normal, from the global seed. */
export function randn(shape: number[], dtype: DType = 'float32'): Tensor { return wrap(native.randn(shape, DTYPE_CODE[dtype])); }
/** Integers in [low, high), int64. */
export function randint(low: number, high: number, shape: number[]): Tensor { return wrap(native.randint(low, high, shape)); }
/** A random permutation of 0..n-1, int64. */
export function randperm(n: number): Tensor { return wrap(native.randperm(n)); }
/** 0/1 draws: with a tensor of probabilities, or a shape and one probability. */
export function bernoulli(p: Tensor): Tensor;
export function bernoulli(shape: number[], p: number, dtype?: DType): Tensor;
export function bernoulli(a: Tensor | number[], p?: number, dtype: DType = 'float32'): Tensor {
  if (a instanceof Tensor) return wrap(native.bernoulli(a.h));
  return wrap(native.bernoulliP(a, p ?? 0.5, DTYPE_CODE[dtype]));
}

export function cat(ts: Tensor[], dim = 0): Tensor { return wrap(native.cat(ts.map(hOf), dim)); }
export function stack(ts: Tensor[], dim = 0): Tensor { return wrap(native.stack(ts.map(hOf), dim)); }
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor { return wrap(native.where(hOf(cond), hOf(a), hOf(b))); }
export function matmul(a: Tensor, b: Tensor): Tensor { return a.matmul(b); }
export function bmm(a: Tensor, b: Tensor): Tensor { return a.bmm(b); }
/** Pairwise p-norm distances between rows of a (…, n, d) and b (…, m, d). */
export function cdist(a: Tensor, b: Tensor, p = 2): Tensor { return wrap(native.cdist(hOf(a), hOf(b), p)); }
/** x · wᵀ + b. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor { return wrap(native.linear(hOf(x), hOf(w), b ? hOf(b) : -1)); }

/** @internal the raw handle, checked. */
export function hOf(t: Tensor): number {
  if (t.h < 0) throw new Error('tensor was disposed');
  return t.h;
}
/** @internal wraps a fresh handle from the addon. */
export { wrap as fromHandle };
