/**
 * face-api's Tiny Face Detector (@vladmandic/face-api, MIT; src/tinyFaceDetector/, src/tinyYolov2/):
 * a Tiny YOLO v2 with separable convolutions, one class (face), five anchors.
 *
 * The network (TinyYolov2Base.runMobilenet with `isFirstLayerConv2d`, filter sizes 3…512, no conv6/7):
 * a 3×3 'valid' conv (16) → leaky ReLU, then five separable convs (32 … 512, 'same') each with a
 * leaky ReLU and a 2×2 max pool (stride 2, the last stride 1), then a 1×1 conv to 5 anchors × 5
 * numbers (x, y, w, h, score) per cell: 416 → 414 → 207 → 104 → 52 → 26 → 13 cells. No BatchNorm.
 *
 * Then box decoding (TinyYolov2Base.extractBoxes) and face-api's own NMS (ops/nonMaxSuppression.ts),
 * written here in plain numbers: face-api does both in JavaScript on the network's raw output.
 */
import { nonMaxSuppression } from './nms.js';
import { faceApiNormalise, separableConv, type SquareInput } from './face-features.js';
import type { Ops } from './ops.js';

/** toBatchTensor(inputSize, false): padded at the end (right or bottom) to a square. */
export const TINY_INPUT: Omit<SquareInput, 'size'> = { centred: false, meanRgb: [117.001, 114.697, 97.404] };

/** tinyFaceDetector/const.ts: anchor widths and heights, in cells. */
export const TINY_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
export const TINY_IOU_THRESHOLD = 0.4;
/** x, y, w, h, score: no class scores for a single class. */
const BOX_ENCODING = 5;

/** tinyYolov2/leaky.ts: relu(x − 0.1x) + 0.1x, i.e. a leaky ReLU with the float32 0.1. */
const LEAKY = 0.10000000149011612;

/** Images (N, S, S, 3), RGB 0..255 already made square (TINY_INPUT), S a multiple of 32 → (N, S/32, S/32, 25). */
export function tinyFaceNet<T>(ops: Ops<T>, images: T): T {
  let x = faceApiNormalise(ops, images, TINY_INPUT.meanRgb);
  x = ops.leakyRelu(ops.conv2d(x, 'conv0', { filters: 16, kernel: 3, stride: 1, padding: 'valid' }), LEAKY);
  [32, 64, 128, 256, 512].forEach((filters, i) => {
    x = ops.pool(x, 'max', { kernel: 2, stride: 2, padding: 'same' });
    x = ops.leakyRelu(separableConv(ops, x, `conv${i + 1}`, filters, 1), LEAKY);
  });
  x = ops.pool(x, 'max', { kernel: 2, stride: 1, padding: 'same' });
  return ops.conv2d(x, 'conv8', { filters: TINY_ANCHORS.length * BOX_ENCODING, kernel: 1, stride: 1, padding: 'valid' });
}

/** A detection relative to the image (0..1 of its width and height), as face-api's `relativeBox`. */
export interface RelativeBox {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * TinyYolov2Base.extractBoxes then detect(): one image's grid (cells × cells × 25, channels-last)
 * → its boxes relative to the (unpadded) image, best first. The image was scaled by
 * inputSize / max(width, height) and padded at the end, so boxes are stretched back by
 * inputSize / (its scaled, rounded side).
 */
export function decodeTinyBoxes(
  grid: ArrayLike<number>,
  cells: number,
  image: { width: number; height: number },
  o: { inputSize: number; scoreThreshold: number },
): RelativeBox[] {
  const scale = o.inputSize / Math.max(image.width, image.height);
  const [w, h] = [Math.round(image.width * scale), Math.round(image.height * scale)];
  const [cx, cy] = [Math.max(w, h) / w, Math.max(w, h) / h];
  const found: RelativeBox[] = [];
  for (let row = 0; row < cells; row++)
    for (let col = 0; col < cells; col++)
      TINY_ANCHORS.forEach(([ax, ay], a) => {
        const at = ((row * cells + col) * TINY_ANCHORS.length + a) * BOX_ENCODING;
        const score = sigmoid(grid[at + 4]!);
        if (o.scoreThreshold && !(score > o.scoreThreshold)) return;
        const ctX = ((col + sigmoid(grid[at]!)) / cells) * cx;
        const ctY = ((row + sigmoid(grid[at + 1]!)) / cells) * cy;
        const width = ((Math.exp(grid[at + 2]!) * ax) / cells) * cx;
        const height = ((Math.exp(grid[at + 3]!) * ay) / cells) * cy;
        found.push({ x: ctX - width / 2, y: ctY - height / 2, width, height, score });
      });
  return faceApiNms(found, o.inputSize).map((i) => found[i]!);
}

/**
 * face-api's NMS (ops/nonMaxSuppression.ts) on boxes scaled by inputSize, IoU > 0.4 suppressed. It
 * is TensorFlow's greedy rule (nms.ts) but for ties: face-api pops the last of a stable ascending
 * sort, so of equal scores the later box comes first — nms.ts takes the earlier, hence the reversal.
 */
function faceApiNms(boxes: RelativeBox[], inputSize: number): number[] {
  const n = boxes.length;
  const corners = new Float64Array(4 * n);
  const scores = new Float64Array(n);
  boxes.forEach((b, i) => {
    const r = n - 1 - i;
    corners.set(
      [b.y, b.x, b.y + b.height, b.x + b.width].map((v) => v * inputSize),
      4 * r,
    );
    scores[r] = b.score;
  });
  const kept = nonMaxSuppression(corners, scores, { maxOutput: n, iouThreshold: TINY_IOU_THRESHOLD, scoreThreshold: -Infinity });
  return kept.map((r) => n - 1 - r);
}
