/**
 * face-api's face detector: SSD with a MobileNetV1 backbone (@vladmandic/face-api,
 * src/ssdMobilenetv1/), written against `Ops`, with what its weights' names mean and how its
 * outputs become faces. The network, as face-api runs it on TensorFlow.js:
 * - input: the image padded with zeros at the bottom or right to a square, resized to 512 × 512
 *   (tf.image.resizeBilinear, legacy sampling), x / 127.5 − 1;
 * - MobileNetV1: a 3×3 stride-2 conv, then 13 pairs (3×3 depthwise + BatchNorm, 1×1 conv), each conv
 *   followed by ReLU6; the 1×1 convs' BatchNorm is already folded into them (only an offset is left);
 * - 8 extra 1×1 convs (every second one stride 2) and 6 box predictors (1×1 convs with bias) on the
 *   32, 16, 8, 4, 2, 1 grids: 3 anchors per cell on the first, 6 on the others, 5118 in all;
 * - output: box encodings decoded against the anchors ('Output/extra_dim'), score = sigmoid of class 1.
 * Then face-api's greedy NMS (IoU 0.5) and the boxes scaled back through the padding.
 */
import type { WeightTensor, Weights } from '../weights/weight-map.js';
import { nonMaxSuppression } from './nms.js';
import type { Ops } from './ops.js';

/** The square the network sees. */
export const SSD_SIZE = 512;
export const SSD_ANCHORS = 5118;
/** face-api's BatchNorm epsilon (mobileNetV1.ts). */
export const SSD_BN_EPS = 0.0010000000474974513;
/** face-api's NMS overlap threshold (SsdMobilenetv1.locateFaces). */
export const SSD_IOU = 0.5;

/** MobileNetV1 pairs 1..13: the depthwise stride and the 1×1 conv's filters. */
const PAIRS: { stride: number; filters: number }[] = [
  [1, 64],
  [2, 128],
  [1, 128],
  [2, 256],
  [1, 256],
  [2, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [2, 1024],
  [1, 1024],
].map(([stride, filters]) => ({ stride: stride!, filters: filters! }));

/** The extra layers after the backbone (Prediction/Conv2d_0..7_pointwise): filters, stride; 3×3 at stride 2, else 1×1. */
const EXTRAS: [number, number][] = [
  [256, 1],
  [512, 2],
  [128, 1],
  [256, 2],
  [128, 1],
  [256, 2],
  [64, 1],
  [128, 2],
];

const extraKernel = (stride: number) => (stride === 2 ? 3 : 1);

/** Anchors per grid cell of box predictors 0..5. */
const ANCHORS_PER_CELL = [3, 6, 6, 6, 6, 6];

/**
 * The network on `images` (N, S, S, 3): the photo padded to a square, RGB 0..255. As face-api:
 * resized to 512 × 512 by TensorFlow's legacy resizeBilinear (convcut does it before the graph:
 * infer/face-pre.ts ssdPixels; for another S the graph resizes, ONNX 'asymmetric'), x / 127.5 − 1. Outputs the box encodings (N, 5118, 4), to decode with `decodeBoxes`, and the face
 * scores (N, 5118).
 */
export function ssdMobilenetV1<T>(ops: Ops<T>, images: T): { encodings: T; scores: T } {
  const [, h, w] = ops.shape(images);
  let x = h === SSD_SIZE && w === SSD_SIZE ? images : ops.resizeBilinear(images, SSD_SIZE, SSD_SIZE);
  // One scalar, not one per channel: ONNX Runtime broadcasts a length-3 vector over NHWC slowly (18 → 1 ms).
  x = ops.affine(x, [1 / 127.5], [-1]);
  const relu6 = (y: T) => ops.clip(y, 0, 6);
  x = relu6(ops.conv2d(x, 'mobilenet.conv_0', { filters: 32, kernel: 3, stride: 2, padding: 'same' }));
  let conv11 = x;
  PAIRS.forEach(({ stride, filters }, i) => {
    const p = `mobilenet.conv_${i + 1}`;
    x = relu6(ops.depthwiseConv2d(x, `${p}.depthwise`, { kernel: 3, stride, padding: 'same' }));
    x = relu6(ops.conv2d(x, `${p}.pointwise`, { filters, kernel: 1, stride: 1, padding: 'same' }));
    if (i + 1 === 11) conv11 = x;
  });
  const grids = [conv11, x];
  let e = x;
  EXTRAS.forEach(([filters, stride], i) => {
    e = relu6(ops.conv2d(e, `prediction.conv_${i}`, { filters, kernel: extraKernel(stride), stride, padding: 'same' }));
    if (stride === 2) grids.push(e);
  });
  const enc: T[] = [];
  const cls: T[] = [];
  grids.forEach((g, i) => {
    const [, gh, gw] = ops.shape(g) as [number, number, number];
    const a = ANCHORS_PER_CELL[i]!;
    const conv = (name: string, filters: number) => ops.conv2d(g, name, { filters, kernel: 1, stride: 1, padding: 'same' });
    enc.push(ops.reshape(conv(`prediction.box_${i}.encoding`, 4 * a), [gh * gw * a, 4]));
    cls.push(ops.reshape(conv(`prediction.box_${i}.class`, 3 * a), [gh * gw * a, 3]));
  });
  // Classes: background, face, and an unused third; face-api's score is the face one's sigmoid.
  const scores = ops.sigmoid(ops.sliceLast(ops.concat(cls, 1), 1, 2));
  return { encodings: ops.concat(enc, 1), scores: ops.reshape(scores, [SSD_ANCHORS]) };
}

// ---- weights

/**
 * The manifest also holds its TensorFlow graph's constants (shapes, axes, slice bounds, the
 * preprocessing's scalars: at most 3 values each), which face-api never reads; any larger tensor
 * left over is a weight this network lacks.
 */
const isGraphConstant = (t: WeightTensor) => t.data.length <= 3;

/**
 * face-api's `ssd_mobilenetv1_model` tensors (readTfjsManifest) as the parameters of
 * `ssdMobilenetV1`, and its anchors ([y1, x1, y2, x2] per anchor, in the 512-square's 0..1 units).
 * Each depthwise BatchNorm is folded into its conv as face-api computes it: (x − mean) · γ/√(var + ε)
 * + β, i.e. kernel · a and bias β − mean · a.
 */
export function ssdParams(tfjs: Weights): { params: Weights; anchors: Float32Array } {
  const used = new Set<string>();
  const take = (name: string, shape: number[]): WeightTensor => {
    const t = tfjs.get(name);
    if (!t) throw new Error(`face-api SSD weights: ${name} is missing`);
    if (t.shape.join() !== shape.join())
      throw new Error(`face-api SSD weights: ${name} is [${t.shape}], the network needs [${shape}]`);
    used.add(name);
    return t;
  };
  const params: Weights = new Map();
  const conv = (to: string, from: string, k: number, cin: number, cout: number, bias: string) => {
    params.set(`${to}.weight`, take(`${from}/weights`, [k, k, cin, cout]));
    params.set(`${to}.bias`, take(`${from}/${bias}`, [cout]));
  };
  conv('mobilenet.conv_0', 'MobilenetV1/Conv2d_0_pointwise', 3, 3, 32, 'convolution_bn_offset');
  let c = 32;
  PAIRS.forEach(({ filters }, i) => {
    const n = i + 1;
    const dw = `MobilenetV1/Conv2d_${n}_depthwise`;
    const bn = (s: string) => take(`${dw}/BatchNorm/${s}`, [c]).data;
    const kernel = take(`${dw}/depthwise_weights`, [3, 3, c, 1]);
    const folded = foldBatchNorm(kernel, bn('gamma'), bn('beta'), bn('moving_mean'), bn('moving_variance'));
    params.set(`mobilenet.conv_${n}.depthwise.weight`, folded.kernel);
    params.set(`mobilenet.conv_${n}.depthwise.bias`, folded.bias);
    conv(`mobilenet.conv_${n}.pointwise`, `MobilenetV1/Conv2d_${n}_pointwise`, 1, c, filters, 'convolution_bn_offset');
    c = filters;
  });
  EXTRAS.forEach(([filters, stride], i) => {
    conv(`prediction.conv_${i}`, `Prediction/Conv2d_${i}_pointwise`, extraKernel(stride), c, filters, 'convolution_bn_offset');
    c = filters;
  });
  const gridChannels = [512, 1024, 512, 256, 256, 128];
  ANCHORS_PER_CELL.forEach((a, i) => {
    const p = `Prediction/BoxPredictor_${i}`;
    conv(`prediction.box_${i}.encoding`, `${p}/BoxEncodingPredictor`, 1, gridChannels[i]!, 4 * a, 'biases');
    conv(`prediction.box_${i}.class`, `${p}/ClassPredictor`, 1, gridChannels[i]!, 3 * a, 'biases');
  });
  const anchors = take('Output/extra_dim', [1, SSD_ANCHORS, 4]).data;
  const unknown = [...tfjs].filter(([k, t]) => !used.has(k) && !isGraphConstant(t)).map(([k]) => k);
  if (unknown.length) throw new Error(`face-api SSD weights: unexpected tensors ${unknown.slice(0, 3).join(', ')}`);
  return { params, anchors };
}

/** A (3, 3, C, 1) depthwise kernel followed by BatchNorm as one kernel and bias. */
function foldBatchNorm(
  k: WeightTensor,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
): { kernel: WeightTensor; bias: WeightTensor } {
  const c = gamma.length;
  const a = Float32Array.from(gamma, (g, i) => g / Math.sqrt(variance[i]! + SSD_BN_EPS));
  const kernel = Float32Array.from(k.data, (v, i) => v * a[i % c]!);
  const bias = Float32Array.from(beta, (b, i) => b - mean[i]! * a[i]!);
  return { kernel: { shape: k.shape, data: kernel }, bias: { shape: [c], data: bias } };
}

// ---- outputs

/**
 * Box encodings (n × 4: ty, tx, th, tw) → boxes [y1, x1, y2, x2] in the 512-square's 0..1 units, as
 * face-api's decodeBoxesLayer: centre + t/10 · anchor size, size · exp(t/5) (scales 10, 10, 5, 5).
 */
export function decodeBoxes(encodings: ArrayLike<number>, anchors: ArrayLike<number>): Float32Array {
  const out = new Float32Array(encodings.length);
  for (let i = 0; i < out.length; i += 4) {
    const ah = anchors[i + 2]! - anchors[i]!;
    const aw = anchors[i + 3]! - anchors[i + 1]!;
    const cy = (encodings[i]! / 10) * ah + (anchors[i]! + ah / 2);
    const cx = (encodings[i + 1]! / 10) * aw + (anchors[i + 1]! + aw / 2);
    const hh = (Math.exp(encodings[i + 2]! / 5) * ah) / 2;
    const hw = (Math.exp(encodings[i + 3]! / 5) * aw) / 2;
    out.set([cy - hh, cx - hw, cy + hh, cx + hw], i);
  }
  return out;
}

export interface SsdFace {
  box: { x: number; y: number; width: number; height: number };
  score: number;
}

/**
 * Decoded boxes and scores of a `width` × `height` image → faces in its pixels, as face-api's
 * locateFaces: greedy NMS (IoU 0.5, score > minConfidence, at most maxResults), each box clipped
 * to the padded square and scaled by 512 / the image's side there (rounded, as face-api rounds it).
 */
export function ssdFaces(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  width: number,
  height: number,
  o: { minConfidence: number; maxResults: number },
): SsdFace[] {
  const kept = nonMaxSuppression(boxes, scores, {
    maxOutput: o.maxResults,
    iouThreshold: SSD_IOU,
    scoreThreshold: o.minConfidence,
  });
  const scale = SSD_SIZE / Math.max(width, height);
  const padX = SSD_SIZE / Math.round(width * scale);
  const padY = SSD_SIZE / Math.round(height * scale);
  return kept.map((i) => {
    const top = Math.max(0, boxes[4 * i]!) * padY;
    const bottom = Math.min(1, boxes[4 * i + 2]!) * padY;
    const left = Math.max(0, boxes[4 * i + 1]!) * padX;
    const right = Math.min(1, boxes[4 * i + 3]!) * padX;
    return {
      box: { x: left * width, y: top * height, width: (right - left) * width, height: (bottom - top) * height },
      score: scores[i]!,
    };
  });
}
