/**
 * The small set of operations the Conv-cut network is written against.
 *
 * The network (src/model/*) is defined once, as functions of an `Ops` implementation. Two engines
 * implement it:
 * - `ShapeOps` (src/engine/shape-ops.ts): tracks shapes only; yields the parameter list, output
 *   shapes and multiply-accumulate counts without allocating weights.
 * - `OnnxOps` (src/engine/onnx-ops.ts): records ONNX nodes, executed by ONNX Runtime — the inference
 *   graph, or (training) the forward graph with its gradients and the optimiser step.
 *
 * Conventions: image tensors are channels-last (N, H, W, C); `dense`, `layerNorm`, `batchNorm`,
 * `scale` and `softmax` act on the last axis. Parameters are named by the op call
 * (`<name>.weight`, `<name>.bias`, ...) and stored channels-last: conv kernels HWIO, depthwise
 * kernels (kh, kw, C, 1), dense kernels (in, out). The batch dimension is -1 in static shapes.
 */

export type Padding = 'same' | 'valid';

/** How a parameter is initialised when no weights are loaded. */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'const'; value: number }
  | { kind: 'truncnormal'; std: number }
  /** Keras' default kernel initialiser: U(-l, l), l = sqrt(6 / (fanIn + fanOut)). */
  | { kind: 'glorot'; fanIn: number; fanOut: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
  /** false for running statistics (BatchNorm moving mean/variance). */
  trainable: boolean;
}

export interface ConvOptions {
  filters: number;
  kernel: number;
  stride: number;
  padding: Padding;
  bias?: boolean;
  init?: Init;
}

export interface DepthwiseOptions {
  kernel: number;
  stride: number;
  padding: Padding;
  bias?: boolean;
  init?: Init;
}

export interface Ops<T> {
  /** True while training (dropout active, BatchNorm uses batch statistics). */
  readonly training: boolean;
  /** Static shape; batch dimension may be -1. */
  shape(x: T): number[];

  conv2d(x: T, name: string, o: ConvOptions): T;
  depthwiseConv2d(x: T, name: string, o: DepthwiseOptions): T;
  /**
   * `quantizable`: the model allows int8 weights here (the ConvNeXt MLPs: ~90 % of the backbone's
   * multiply-adds, and measured within 0.5 accuracy points); engines quantise nothing else.
   */
  dense(x: T, name: string, units: number, o?: { bias?: boolean; init?: Init; quantizable?: boolean }): T;
  layerNorm(x: T, name: string, eps: number): T;
  /** Keras BatchNormalization: moving statistics updated with `momentum` while training. */
  batchNorm(x: T, name: string, eps: number, momentum: number): T;
  /** Multiply by a learned vector over the last axis (ConvNeXt layer scale). */
  scale(x: T, name: string, init: Init): T;
  /** Multiply by one learned scalar. */
  scalarScale(x: T, name: string, init: Init): T;
  /** x * mul + add with constant per-channel vectors (last axis). */
  affine(x: T, mul: number[], add: number[]): T;

  gelu(x: T): T;
  relu(x: T): T;
  add(a: T, b: T): T;
  softmax(x: T): T;
  /** Batched matrix product over the last two axes. */
  matmul(a: T, b: T, transposeB: boolean): T;
  /** Multiply by a constant. */
  mulConst(x: T, c: number): T;
  /** Reshape keeping the batch axis: `shape` excludes it. */
  reshape(x: T, shape: number[]): T;
  /** (N, H, W, C) -> (N, C). */
  globalAvgPool(x: T): T;
  dropout(x: T, rate: number): T;
  /** Drops whole channels (Keras SpatialDropout2D). */
  spatialDropout(x: T, rate: number): T;

  // The face networks' ops (face-ssd.ts, face-tiny.ts, face-features.ts, tfjs-graph.ts): inference only, no engine
  // differentiates them.
  /** min(max(x, lo), hi): ReLU6 is clip(x, 0, 6). */
  clip(x: T, lo: number, hi: number): T;
  /** max(x, alpha·x) for 0 < alpha < 1. */
  leakyRelu(x: T, alpha: number): T;
  sigmoid(x: T): T;
  /**
   * Max or average over k×k windows of the spatial axes, TensorFlow's padding ('same': extra at the
   * end; padded cells never count, as tf.maxPool / tf.avgPool).
   */
  pool(x: T, kind: 'max' | 'avg', o: { kernel: number; stride: number; padding: Padding }): T;
  /** Joins tensors along `axis` (of the whole shape, batch = axis 0); the other axes are equal. */
  concat(xs: T[], axis: number): T;
  /** The spatial axes resized to h × w as TensorFlow's resizeBilinear(alignCorners = false, halfPixelCenters = false). */
  resizeBilinear(x: T, h: number, w: number): T;
  /** exp(x), element-wise (box decoding). */
  exp(x: T): T;
  /** a · b element-wise, numpy broadcasting. */
  mul(a: T, b: T): T;
  /** x[..., start:end] on the last axis. */
  sliceLast(x: T, start: number, end: number): T;
}

/** TensorFlow 'same' padding: total = max((ceil(n/s) - 1) * s + k - n, 0), extra at the end. */
export function samePadding(n: number, k: number, s: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

export function convOutSize(n: number, k: number, s: number, padding: Padding): number {
  const out = padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
  if (out < 1) {
    throw new Error(
      `a ${k}×${k} stride-${s} '${padding}' convolution needs an input of at least ${k} pixels, got ${n}: use a larger input size or an earlier cut`,
    );
  }
  return out;
}

/**
 * How a kernel = stride convolution (the Detail Extraction Block's) cuts its input into
 * non-overlapping patches, declared here so engines take it from the model instead of re-deriving it.
 */
export interface PatchLayout {
  kernel: number;
  /** Zeros added before cutting: [top, left, bottom, right] (TensorFlow 'same', extra at the end). */
  pads: [number, number, number, number];
  /** The output grid: patches down and across. */
  grid: [number, number];
  /** The padded input's rows and columns that patches cover (the rest is dropped, as 'valid' drops it). */
  covered: [number, number];
  /** A patch's k·k elements in this order, the faster axis last: (kh, kw), as HWIO kernels flatten. */
  order: readonly ['kh', 'kw'];
}

export function patchLayout(inputShape: readonly number[], kernel: number, padding: Padding): PatchLayout {
  const [, h, w] = inputShape as [number, number, number];
  const [top, bottom] = padding === 'same' ? samePadding(h, kernel, kernel) : [0, 0];
  const [left, right] = padding === 'same' ? samePadding(w, kernel, kernel) : [0, 0];
  const grid: [number, number] = [convOutSize(h, kernel, kernel, padding), convOutSize(w, kernel, kernel, padding)];
  return { kernel, pads: [top, left, bottom, right], grid, covered: [grid[0] * kernel, grid[1] * kernel], order: ['kh', 'kw'] };
}
