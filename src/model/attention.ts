/**
 * The "self-attention" of Conv-cut, in three modes.
 *
 * `batch` reproduces the reference code exactly: Keras `Attention(use_scale=True)([x, x])` applied
 * to x of shape (batch, 32). Keras treats the batch as the sequence, so the scores are a
 * (batch × batch) matrix: softmax(scale · x·xᵀ)·x. A prediction then depends on which other images
 * share its batch, and with a batch of one the layer is the identity (softmax of a 1×1 matrix is 1).
 * Combined with class-ordered test batches this leaks labels (SPEC §2).
 *
 * `token` (our default) keeps the idea — attention over the features the Detail Extraction Block
 * found — but within one image: scaled dot-product self-attention over its H×W spatial tokens, with
 * learned query/key/value/output projections and a residual connection, placed before pooling.
 * Every image is processed independently, so results never depend on batch size or order.
 */
import type { Ops } from './ops.js';

const glorot = (fanIn: number, fanOut: number) => ({ kind: 'glorot', fanIn, fanOut }) as const;

/** Per-image self-attention over spatial tokens: x (N, H, W, C) → (N, H, W, C). */
export function tokenAttention<T>(ops: Ops<T>, x: T): T {
  const [, h, w, c] = ops.shape(x) as [number, number, number, number];
  const tokens = ops.reshape(x, [h * w, c]);
  const q = ops.dense(tokens, 'attention.q', c, { init: glorot(c, c) });
  const k = ops.dense(tokens, 'attention.k', c, { init: glorot(c, c) });
  const v = ops.dense(tokens, 'attention.v', c, { init: glorot(c, c) });
  const weights = ops.softmax(ops.mulConst(ops.matmul(q, k, true), 1 / Math.sqrt(c)));
  const attended = ops.dense(ops.matmul(weights, v, false), 'attention.out', c, { init: glorot(c, c) });
  return ops.reshape(ops.add(tokens, attended), [h, w, c]);
}

/** The reference behaviour: attention across the images of the batch. x (N, D) → (N, D). */
export function batchAttention<T>(ops: Ops<T>, x: T): T {
  const scores = ops.scalarScale(ops.matmul(x, x, true), 'attention.scale', { kind: 'ones' });
  return ops.matmul(ops.softmax(scores), x, false);
}
