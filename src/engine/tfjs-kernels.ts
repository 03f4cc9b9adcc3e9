/**
 * Differentiable building blocks with gradients written for the tfjs `wasm` backend's fast paths.
 * Measured on this machine with tf.profile (see BENCHMARKS.md, head training): wasm's BatchMatMul with
 * a transposed operand runs ~20× slower than an explicit Transpose followed by a plain BatchMatMul,
 * and a Sum over the leading axes of a 5-D tensor ~30× slower than `sumLeading`. tfjs' stock
 * gradients of matMul, broadcast multiply and bias add use exactly those slow forms, so these ops
 * supply their own (a head step went from 440 to 57 ms).
 */
import { tf } from './tfjs-backend.js';

type T = tf.Tensor;

const swapLast = (x: T): T => {
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 1], perm[x.rank - 2]] = [perm[x.rank - 2]!, perm[x.rank - 1]!];
  return tf.transpose(x, perm);
};

/**
 * Σ over all leading axes of x, keeping the last. wasm reduces only innermost axes, transposing
 * first otherwise, and its 2-D transpose of a large matrix is slow; summing groups of 4 rows first
 * (a 3-D transpose of small blocks) and then the rest measured fastest for large gradients: for a
 * 256×8192 gradient 3.6 ms, against 7.4 ms for one Sum and 22 ms for adding halves cut with
 * tf.slice (wasm's Slice reads its whole input into a fresh JS array). Small inputs take one Sum.
 */
export function sumLeading(x: T): T {
  const c = x.shape[x.rank - 1]!;
  const rows = x.size / c;
  if (x.size < 1 << 16 || rows % 4) return tf.sum(tf.reshape(x, [rows, c]), 0);
  return tf.sum(tf.sum(tf.reshape(x, [rows / 4, 4, c]), 1), 0);
}

function custom<A extends T[]>(
  f: (...args: [...A, tf.GradSaveFunc]) => { value: T; gradFunc: (dy: T, saved: T[]) => T[] },
): (...args: A) => T {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => T;
}

/** a·b (batched over leading axes, same rank), optionally b transposed, with plain-matMul gradients. */
const matMulPlain = custom<[T, T]>((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, [sa, sb]) => [tf.matMul(dy, swapLast(sb!)), gradB(sa!, dy)],
  };
});

/**
 * ∂b = aᵀ·∂y. wasm's matMul re-packs its right operand on every call, and for a wide ∂y (a ConvNeXt
 * MLP's 3136×2048 fc1 gradient) (∂yᵀ·a)ᵀ measured 300 ms against 497 ms: packing the narrower
 * operand wins.
 */
function gradB(a: T, dy: T): T {
  if (a.rank === 2 && dy.shape[1]! > a.shape[1]!) return tf.transpose(tf.matMul(tf.transpose(dy), a));
  return tf.matMul(swapLast(a), dy);
}

export function matMul(a: T, b: T, transposeB = false): T {
  return matMulPlain(a, transposeB ? swapLast(b) : b);
}

/** x + bias over the last axis; ∂bias via `sumLeading`. */
export const addBias = custom<[T, T]>((x, bias, save) => {
  save([]);
  return { value: tf.add(x, bias), gradFunc: (dy) => [dy, sumLeading(dy)] };
});

/** x · v over the last axis (layer scale, LayerNorm γ); ∂v via `sumLeading`. */
export const mulVector = custom<[T, T]>((x, v, save) => {
  save([x, v]);
  return { value: tf.mul(x, v), gradFunc: (dy, [sx, sv]) => [tf.mul(dy, sv!), sumLeading(tf.mul(dy, sx!))] };
});

/**
 * Depthwise "patch" conv: taps (M, K, C) — K kernel taps per output position — times w (K, C),
 * summed over K → (M, C).
 */
export const patchDepthwise = custom<[T, T]>((taps, w, save) => {
  save([taps, w]);
  return {
    value: tf.sum(tf.mul(taps, w), 1),
    gradFunc: (dy, [st, sw]) => {
      const [m, k, c] = st!.shape as [number, number, number];
      const g = tf.reshape(dy, [m, 1, c]);
      return [tf.mul(g, sw!), tf.reshape(sumLeading(tf.reshape(tf.mul(st!, g), [m, k * c])), [k, c])];
    },
  };
});

/**
 * `patchDepthwise` on taps that are data, not a function of any variable (frozen-backbone
 * features): taps (C, K, M) from `writeTaps`, w (K, C) → (M, C). Only ∂w is computed; in this
 * layout it is one multiply and one innermost-axis Sum.
 */
export function patchDepthwiseTaps(taps: T, w: T): T {
  const [c, k, m] = taps.shape as [number, number, number];
  const f = custom<[T]>((wk, save) => {
    save([]);
    const y = tf.sum(tf.mul(taps, tf.reshape(tf.transpose(wk), [c, k, 1])), 1);
    return {
      value: tf.transpose(y),
      gradFunc: (dy) => [tf.transpose(tf.sum(tf.mul(taps, tf.reshape(tf.transpose(dy), [c, 1, m])), 2))],
    };
  });
  return f(w);
}
