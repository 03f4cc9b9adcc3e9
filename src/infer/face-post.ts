/**
 * What the face networks' outputs mean, in plain arithmetic shared by Node (face-nets.ts) and the
 * web page (web/src/faces.ts): no ONNX Runtime and no Node module here. The SSD's decoding and NMS
 * are `decodeBoxes` and `ssdFaces` (model/face-ssd.ts), the same in both.
 */
import { landmarksInCrop } from '../model/face-features.js';
import { decodeTinyBoxes } from '../model/face-tiny.js';

export interface TinyDetection {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

/** The Tiny Face Detector's grid (cells × cells × 25) for `frame` → its faces in the frame's pixels, best first. */
export function tinyFaces(
  grid: ArrayLike<number>,
  cells: number,
  frame: { width: number; height: number },
  o: { inputSize: number; scoreThreshold: number },
): TinyDetection[] {
  return decodeTinyBoxes(grid, cells, frame, o).map((b) => ({
    x: b.x * frame.width,
    y: b.y * frame.height,
    width: b.width * frame.width,
    height: b.height * frame.height,
    score: b.score,
  }));
}

/** The landmark net's output (N × 136) for N crops → 68 points per crop, in that crop's pixels. */
export function cropLandmarks(out: Float32Array, crops: { width: number; height: number }[]): { x: number; y: number }[][] {
  const k = crops.length ? out.length / crops.length : 0;
  return crops.map((c, i) => landmarksInCrop(out.subarray(i * k, (i + 1) * k), c.width, c.height));
}
