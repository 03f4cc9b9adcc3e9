/**
 * Detail Extraction Block (the paper's "DET"; `patch_extraction` in the reference code): two
 * separable convolutions whose kernel equals their stride, so each output pixel summarises one
 * patch of the cut features: 14×14×512 → 4×4×256 (k4 s4 'same') → 2×2×256 (k2 s2 'valid').
 *
 * A Keras SeparableConv2D is a depthwise conv (multiplier 1, no bias), then a 1×1 pointwise conv
 * with bias, then the activation. The 1×1 conv is written as `dense` over channels (identical, and
 * a plain matrix product in both engines).
 *
 * How each kernel = stride conv cuts its input into patches (padding, output grid, the order of a
 * patch's elements) is declared once, by `patchLayout` in ops.ts; engines that compute the block
 * as patches (the training graph's Gemm form, onnx-ops.ts) take it from there.
 */
import type { Ops, Padding } from './ops.js';

function separableConv<T>(ops: Ops<T>, x: T, name: string, filters: number, kernel: number, padding: Padding): T {
  const cin = ops.shape(x)[3]!;
  const dw = ops.depthwiseConv2d(x, `${name}.depthwise`, {
    kernel,
    stride: kernel,
    padding,
    bias: false,
    init: { kind: 'glorot', fanIn: kernel * kernel * cin, fanOut: kernel * kernel },
  });
  const pw = ops.dense(dw, `${name}.pointwise`, filters, { init: { kind: 'glorot', fanIn: cin, fanOut: filters } });
  return ops.relu(pw);
}

export function detailExtraction<T>(ops: Ops<T>, x: T, filters: number): T {
  const y = separableConv(ops, x, 'detail.sep1', filters, 4, 'same');
  return separableConv(ops, y, 'detail.sep2', filters, 2, 'valid');
}
