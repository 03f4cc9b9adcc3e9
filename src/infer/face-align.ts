/**
 * The part of face finding that is plain arithmetic, shared by Node (infer/faces.ts) and the web
 * page: keeping only SSD detections a second detector confirms, and aligning each face the way
 * RAF-DB's aligned faces are made (a similarity transform that puts the eye centres on fixed points
 * of a square crop: eyes level, at 35 % / 65 % of the width and 42 % of the height).
 */
import { affineSample } from '../data/augment.js';
import type { DecodedImage } from '../data/image.js';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FaceBox extends Box {
  score: number;
}

export interface DetectedFace {
  box: FaceBox;
  /** The aligned crop, `size`×`size`, ready for the model. */
  aligned: DecodedImage;
}

/** An SSD detection with its 68 landmarks, as face-api returns it. */
export interface LandmarkedFace {
  detection: { box: Box; score: number };
  landmarks: { getLeftEye(): { x: number; y: number }[]; getRightEye(): { x: number; y: number }[] };
}

/**
 * The Tiny Face Detector's settings and the overlap that counts as agreement (measured on real photos:
 * BENCHMARKS.md). At 416 it misses faces that fill much of the picture (portraits, face crops); run
 * again at `largeInputSize` it finds those, with no false face more (bench/face-quality.ts).
 */
export const CONFIRM = { inputSize: 416, largeInputSize: 224, scoreThreshold: 0.2, minIou: 0.3 };

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** The detections the second detector agrees with (`second` undefined: all of them). */
export function confirmed(found: LandmarkedFace[], second: Box[] | undefined): LandmarkedFace[] {
  return second ? found.filter((f) => second.some((d) => iou(f.detection.box, d) >= CONFIRM.minIou)) : found;
}

const mean = (pts: { x: number; y: number }[]) => ({
  x: pts.reduce((a, p) => a + p.x, 0) / pts.length,
  y: pts.reduce((a, p) => a + p.y, 0) / pts.length,
});

/** Each face aligned into a `size`×`size` crop of `photo`, left to right. */
export function alignFaces(
  photo: { width: number; height: number; data: ArrayLike<number> },
  faces: LandmarkedFace[],
  size: number,
): DetectedFace[] {
  return faces
    .map((f) => {
      const l = mean(f.landmarks.getLeftEye());
      const r = mean(f.landmarks.getRightEye());
      // Similarity transform output → photo: eyes land on (0.35, 0.42)·size and (0.65, 0.42)·size.
      const [ox1, ox2, oy] = [0.35 * size, 0.65 * size, 0.42 * size];
      const dx = r.x - l.x;
      const dy = r.y - l.y;
      const s = Math.hypot(dx, dy) / (ox2 - ox1);
      const cos = (dx / Math.hypot(dx, dy)) * s;
      const sin = (dy / Math.hypot(dx, dy)) * s;
      const aligned = affineSample(photo, size, size, (x, y) => {
        const u = x - ox1;
        const v = y - oy;
        return [l.x + cos * u - sin * v, l.y + sin * u + cos * v];
      });
      const b = f.detection.box;
      return { box: { x: b.x, y: b.y, width: b.width, height: b.height, score: f.detection.score }, aligned };
    })
    .sort((a, b) => a.box.x - b.box.x);
}
