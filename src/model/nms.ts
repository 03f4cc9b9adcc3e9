/**
 * Greedy non-maximum suppression as TensorFlow's `tf.image.nonMaxSuppression` does it (what
 * face-api's detectors call): boxes by falling score, each kept unless it overlaps a kept one by
 * more than `iouThreshold`; scores below `scoreThreshold` never kept; at most `maxOutput`.
 * Boxes are [y1, x1, y2, x2] (corners in either order, as TensorFlow allows).
 *
 * face-api's SSD uses its own copy in JS (ssdMobilenetv1/nonMaxSuppression.ts: a candidate's score
 * zeroed by any kept box it overlaps by more than the threshold, kept if its score survives): the
 * same boxes in the same order, ties by index as its stable sort leaves them.
 */
export function nonMaxSuppression(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  o: { maxOutput: number; iouThreshold: number; scoreThreshold: number },
): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .filter((i) => scores[i]! > o.scoreThreshold)
    .sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= o.maxOutput) break;
    if (kept.every((k) => boxIou(boxes, i, k) <= o.iouThreshold)) kept.push(i);
  }
  return kept;
}

/** IoU of boxes i and j of a flat [y1, x1, y2, x2]… array (TensorFlow's IOU in non_max_suppression_op). */
export function boxIou(b: ArrayLike<number>, i: number, j: number): number {
  const [ay1, ax1, ay2, ax2] = [b[4 * i]!, b[4 * i + 1]!, b[4 * i + 2]!, b[4 * i + 3]!];
  const [by1, bx1, by2, bx2] = [b[4 * j]!, b[4 * j + 1]!, b[4 * j + 2]!, b[4 * j + 3]!];
  const areaA = (Math.max(ay1, ay2) - Math.min(ay1, ay2)) * (Math.max(ax1, ax2) - Math.min(ax1, ax2));
  const areaB = (Math.max(by1, by2) - Math.min(by1, by2)) * (Math.max(bx1, bx2) - Math.min(bx1, bx2));
  if (areaA <= 0 || areaB <= 0) return 0;
  const y1 = Math.max(Math.min(ay1, ay2), Math.min(by1, by2));
  const x1 = Math.max(Math.min(ax1, ax2), Math.min(bx1, bx2));
  const y2 = Math.min(Math.max(ay1, ay2), Math.max(by1, by2));
  const x2 = Math.min(Math.max(ax1, ax2), Math.max(bx1, bx2));
  const inter = Math.max(y2 - y1, 0) * Math.max(x2 - x1, 0);
  return inter / (areaA + areaB - inter);
}
