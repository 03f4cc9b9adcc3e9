/**
 * face-api's FaceFeatureExtractor (@vladmandic/face-api, MIT; src/faceFeatureExtractor/) and the two
 * heads that share it: the 68-point landmark net (`faceLandmark68Net`: fc → 136) and the expression
 * net (`faceExpressionNet`: fc → 7 → softmax). Same architecture, other weights.
 *
 * The extractor: a 112×112 face, mean-subtracted and divided by 255, through four dense blocks of
 * 3×3 separable convolutions (each block halves the size: 112 → 56 → 28 → 14 → 7; 32, 64, 128, 256
 * channels), then a 7×7 average pool → 256 features. No BatchNorm anywhere: every conv has a bias.
 *
 * Beside the network, as convnext-pretrained.ts is beside ConvNeXt: face-api's weight names, its
 * normalisation, how it makes a face crop square, and how it maps landmarks back into the crop.
 */
import type { WeightTensor, Weights } from '../weights/weight-map.js';
import type { Ops } from './ops.js';

/** How face-api's NetInput turns an image into a network input (dom/NetInput.ts toBatchTensor). */
export interface SquareInput {
  size: number;
  /**
   * Where the zero padding that makes the image square goes: `centred` splits it, the larger half
   * (Math.round) after the image; otherwise all of it after (right or bottom). Padding happens on
   * 0..255 pixels, before the mean is subtracted.
   */
  centred: boolean;
  meanRgb: readonly [number, number, number];
}

/** The FaceFeatureExtractor's input (FaceFeatureExtractor.ts forwardInput: `toBatchTensor(112, true)`). */
export const FEATURE_INPUT: SquareInput = { size: 112, centred: true, meanRgb: [122.782, 117.001, 104.298] };

/** faceExpressionNet's outputs in order (faceExpressionNet/FaceExpressions.ts). */
export const EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;

export const LANDMARKS = 68;

/** (x − mean) / 255 per channel, as face-api's `normalize(x, meanRgb).div(255)`. */
export function faceApiNormalise<T>(ops: Ops<T>, x: T, meanRgb: readonly number[]): T {
  return ops.affine(
    x,
    meanRgb.map(() => 1 / 255),
    meanRgb.map((m) => -m / 255),
  );
}

/**
 * tf.separableConv2d + bias (common/depthwiseSeparableConv.ts): a 3×3 depthwise conv without bias,
 * then a 1×1 conv with it. Named `<name>.depthwise` and `<name>.pointwise` (see mapFaceApiWeights).
 */
export function separableConv<T>(ops: Ops<T>, x: T, name: string, filters: number, stride: number): T {
  const d = ops.depthwiseConv2d(x, `${name}.depthwise`, { kernel: 3, stride, padding: 'same', bias: false });
  return ops.conv2d(d, `${name}.pointwise`, { filters, kernel: 1, stride: 1, padding: 'same' });
}

/**
 * faceFeatureExtractor/denseBlock.ts denseBlock4: four convs, each fed the ReLU of the sum of all
 * earlier outputs; the first halves the size (a plain 3×3 conv in the first block, separable after).
 */
function denseBlock4<T>(ops: Ops<T>, x: T, p: string, filters: number, first: boolean): T {
  const conv0 = first
    ? ops.conv2d(x, `${p}.conv0`, { filters, kernel: 3, stride: 2, padding: 'same' })
    : separableConv(ops, x, `${p}.conv0`, filters, 2);
  const out1 = ops.relu(conv0);
  const out2 = separableConv(ops, out1, `${p}.conv1`, filters, 1);
  const out3 = separableConv(ops, ops.relu(ops.add(out1, out2)), `${p}.conv2`, filters, 1);
  const out4 = separableConv(ops, ops.relu(ops.add(out1, ops.add(out2, out3))), `${p}.conv3`, filters, 1);
  return ops.relu(ops.add(out1, ops.add(out2, ops.add(out3, out4))));
}

/** Images (N, 112, 112, 3), RGB 0..255 already made square (see FEATURE_INPUT) → features (N, 256). */
export function faceFeatures<T>(ops: Ops<T>, images: T): T {
  let x = faceApiNormalise(ops, images, FEATURE_INPUT.meanRgb);
  [32, 64, 128, 256].forEach((filters, i) => (x = denseBlock4(ops, x, `dense${i}`, filters, i === 0)));
  x = ops.pool(x, 'avg', { kernel: 7, stride: 2, padding: 'valid' });
  return ops.reshape(x, [256]);
}

/** faceLandmark68Net: (N, 136): x, y of each point, relative to the padded square (postprocess with landmarksInCrop). */
export function landmarkNet<T>(ops: Ops<T>, images: T): T {
  return ops.dense(faceFeatures(ops, images), 'fc', 2 * LANDMARKS);
}

/** faceExpressionNet: (N, 7) probabilities, in EXPRESSIONS order. */
export function expressionNet<T>(ops: Ops<T>, images: T): T {
  return ops.softmax(ops.dense(faceFeatures(ops, images), 'fc', EXPRESSIONS.length));
}

/**
 * The landmark net's output for one crop (136 numbers, relative to the 112×112 square) in that
 * crop's pixels, as FaceLandmark68NetBase.postProcess and FaceLandmarks do it: × 112, minus the
 * centring padding (half the difference of the scaled sides, exactly), ÷ the scale.
 */
export function landmarksInCrop(out: ArrayLike<number>, width: number, height: number): { x: number; y: number }[] {
  const size = FEATURE_INPUT.size;
  const scale = size / Math.max(width, height);
  const [w, h] = [width * scale, height * scale];
  const padX = w < h ? Math.abs(w - h) / 2 : 0;
  const padY = h < w ? Math.abs(w - h) / 2 : 0;
  return Array.from({ length: LANDMARKS }, (_, i) => ({
    x: ((out[2 * i]! * size - padX) / w) * width,
    y: ((out[2 * i + 1]! * size - padY) / h) * height,
  }));
}

/**
 * face-api's weight names (`dense0/conv1/depthwise_filter`, `conv8/filters`, `fc/weights`) → the
 * names the networks here ask for (`dense0.conv1.depthwise.weight`, `conv8.weight`, `fc.weight`).
 * Layouts already match: TensorFlow's HWIO kernels, (kh, kw, C, 1) depthwise ones, (in, out) dense.
 * A separable conv's bias belongs to its pointwise half. Shared by all of face-api's networks here.
 */
export function mapFaceApiWeights(tfjs: Weights): Weights {
  const out: Weights = new Map();
  for (const [key, t] of tfjs) out.set(faceApiName(key, tfjs), t as WeightTensor);
  return out;
}

function faceApiName(key: string, all: Weights): string {
  const m = /^(.+)\/(filters|weights|bias|depthwise_filter|pointwise_filter)$/.exec(key);
  if (!m) throw new Error(`face-api weight ${key}: not a conv, separable conv or dense parameter`);
  const layer = m[1]!.replaceAll('/', '.');
  switch (m[2]) {
    case 'depthwise_filter':
      return `${layer}.depthwise.weight`;
    case 'pointwise_filter':
      return `${layer}.pointwise.weight`;
    case 'bias':
      return all.has(`${m[1]}/pointwise_filter`) ? `${layer}.pointwise.bias` : `${layer}.bias`;
    default:
      return `${layer}.weight`;
  }
}
