// Deterministic memory release. Every tensor made inside tidy(fn) (or a `using` scope) is freed when the scope
// ends, except what fn returns or what is passed to keep(). Tensors made outside any scope are freed by
// dispose() or, as a safety net, when the garbage collector finalises them.
import { native } from './native.js';

/** What the scope machinery needs from a tensor (kept minimal to avoid an import cycle with tensor.ts). */
export interface Tracked {
  h: number;
  readonly isTensor: true;
}

const stack: Tracked[][] = [];
const kept = new WeakSet<Tracked>();
const finalizer = new FinalizationRegistry<number>((h) => native.release(h));

/** Called by every new tensor. */
export function track(t: Tracked): void {
  const top = stack[stack.length - 1];
  if (top) top.push(t);
  else finalizer.register(t, t.h, t);
}

/** Frees a tensor now. Safe to call twice. */
export function release(t: Tracked): void {
  if (t.h < 0) return;
  finalizer.unregister(t);
  native.release(t.h);
  t.h = -1;
}

/** Marks a tensor made inside a scope as surviving it (it moves to the enclosing scope, or becomes unscoped). */
export function keep<T extends Tracked>(t: T): T {
  kept.add(t);
  return t;
}

function collect(v: unknown, out: Set<Tracked>, depth = 0): void {
  if (v == null || typeof v !== 'object' || depth > 6) return;
  if ((v as Tracked).isTensor === true) {
    out.add(v as Tracked);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, depth + 1);
}

function closeScope(scope: Tracked[], survivors: Set<Tracked>): void {
  const parent = stack[stack.length - 1];
  for (const t of scope) {
    if (t.h < 0) continue;
    if (survivors.has(t) || kept.has(t)) {
      kept.delete(t);
      if (parent) parent.push(t);
      else finalizer.register(t, t.h, t);
    } else {
      native.release(t.h);
      t.h = -1;
    }
  }
}

/** Runs fn and frees every tensor it made, except those in its (possibly nested array/object) result. */
export function tidy<R>(fn: () => R): R {
  const scope: Tracked[] = [];
  stack.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    closeScope(scope, new Set());
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    closeScope(scope, new Set());
    throw new Error('tidy(fn): fn must be synchronous; await outside the scope');
  }
  const survivors = new Set<Tracked>();
  collect(result, survivors);
  closeScope(scope, survivors);
  return result;
}

/** A scope for `using`: `using s = scope();` frees the block's tensors at its end, except those passed to keep(). */
export function scope(): Disposable {
  const s: Tracked[] = [];
  stack.push(s);
  return {
    [Symbol.dispose]() {
      const i = stack.lastIndexOf(s);
      if (i >= 0) stack.splice(i, 1);
      closeScope(s, new Set());
    },
  };
}

export function memory(): { tensors: number; bytes: number } {
  return native.memory();
}
