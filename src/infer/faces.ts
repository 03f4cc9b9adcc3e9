/**
 * Faces in photos, on ONNX Runtime: face-api's networks (MIT; their weights ship inside its npm
 * package) defined in src/model/ and run as convcut's own ONNX graphs (infer/face-ssd-detector.ts,
 * infer/face-nets.ts), giving face-api's own results (test/faces-onnx.test.ts). SSD MobileNetV1
 * finds faces and the 68-point landmark net places their eyes; each detection is confirmed by a
 * second, independent detector (the Tiny Face Detector: a box overlapping it, IoU ≥ 0.3) — SSD
 * alone finds a face on a cat at 0.93, above several real faces; the pair keeps all 25 faces of
 * the real photos in BENCHMARKS.md and drops the cat — then each face is aligned the way RAF-DB's
 * aligned faces are made (face-align.ts).
 */
import sharp from 'sharp';
import { alignFaces, CONFIRM, confirmed, iou, type Box, type DetectedFace, type LandmarkedFace } from './face-align.js';
import { LandmarkNet, TinyDetector } from './face-nets.js';
import { SsdDetector } from './face-ssd-detector.js';
import { DEFAULTS } from '../defaults.js';

export type { Box, DetectedFace, FaceBox } from './face-align.js';

interface FaceNets {
  ssd: SsdDetector;
  tiny: TinyDetector;
  landmarks: LandmarkNet;
}
let nets: Promise<FaceNets> | undefined;

/** The three networks, built and loaded once per process. */
function faceNets(): Promise<FaceNets> {
  nets ??= (async () => {
    const [ssd, tiny, landmarks] = await Promise.all([SsdDetector.load(), TinyDetector.load(), LandmarkNet.load()]);
    return { ssd, tiny, landmarks };
  })();
  nets.catch(() => (nets = undefined)); // a failed load is tried again
  return nets;
}

/** A photo's pixels as they come from a decoder: H × W × 3, RGB, 0..255, one byte each. */
export interface RgbFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A photo (file or bytes) decoded for the detectors: EXIF orientation applied, sRGB, no alpha. */
export async function decodePhoto(input: string | Uint8Array): Promise<RgbFrame> {
  const { data, info } = await sharp(input, { limitInputPixels: 100_000_000 })
    .rotate()
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export interface DetectOptions {
  minConfidence?: number;
  maxFaces?: number;
  /** false: keep SSD's detections without the second detector's agreement (more false faces: animals). */
  confirm?: boolean;
  /**
   * Faces already confirmed (video: the tracked faces of the frame before). A detection overlapping
   * one by IoU ≥ 0.5 needs no second confirmation, and when every detection does, the second
   * detector does not run.
   */
  trusted?: Box[];
}

/** Detect, then align, every face in a photo (file or bytes). */
export async function detectFaces(input: string | Uint8Array, size: number, opts: DetectOptions = {}): Promise<DetectedFace[]> {
  return detectInFrame(await decodePhoto(input), size, opts);
}

/** Detect, then align, every face in decoded pixels (a photo, or a video frame). */
export async function detectInFrame(frame: RgbFrame, size: number, opts: DetectOptions = {}): Promise<DetectedFace[]> {
  return alignFaces(frame, await findFaces(frame, opts), size);
}

/** A face found in a frame, with its 68 landmarks in frame coordinates (what tracking follows). */
export interface FrameFace extends DetectedFace {
  points: Point[];
}

/** Detect, then align, every face in a frame, keeping the landmarks (video: infer/video/). */
export async function detectWithLandmarks(frame: RgbFrame, size: number, opts: DetectOptions = {}): Promise<FrameFace[]> {
  return (await findFaces(frame, opts)).map((f) => withPoints(frame, f, size));
}

/**
 * Follow faces into a new frame without the detectors: the 68-point landmark net alone, on each
 * face's previous box (cropped as face-api crops a detection for its landmarks, so a face that has
 * not moved gets the same landmarks; `margin` grows the crop on each side). The box moves and
 * scales as the landmarks did. Used between detections in video; it trusts that each face is still
 * there, so detection must run again soon. A face that is leaving the view is let go: on what is
 * left of a face the landmark net fits a face anyway, smaller each frame (a box shrinking from 72 to
 * 5 px wide in four frames, each frame a new track, on face-api's sample1.jpg panned past the edge).
 * So a face is dropped when under `REFIT.minInside` of its box is in the frame, or when its size
 * jumps by more than `REFIT.maxScale` in one step; the next detection finds it if it is still there.
 */
export async function refitFaces(frame: RgbFrame, previous: FrameFace[], size: number, margin = 0): Promise<FrameFace[]> {
  const { landmarks } = await faceNets();
  const kept: { prev: FrameFace; x0: number; y0: number; crop: RgbFrame }[] = [];
  for (const prev of previous) {
    const b = prev.box;
    const x0 = Math.max(0, Math.floor(b.x - margin * b.width));
    const y0 = Math.max(0, Math.floor(b.y - margin * b.height));
    const x1 = Math.min(frame.width, Math.ceil(b.x + (1 + margin) * b.width));
    const y1 = Math.min(frame.height, Math.ceil(b.y + (1 + margin) * b.height));
    if (x1 - x0 < 8 || y1 - y0 < 8 || insideShare(b, frame) < REFIT.minInside) continue;
    kept.push({ prev, x0, y0, crop: cropRgb(frame, x0, y0, x1 - x0, y1 - y0) });
  }
  const points = await landmarks.landmarks(kept.map((k) => k.crop)); // every face in one run
  const out: FrameFace[] = [];
  kept.forEach(({ prev, x0, y0 }, i) => {
    const b = prev.box;
    const pts = points[i]!.map((p) => ({ x: x0 + p.x, y: y0 + p.y }));
    const box = { ...carryBox(prev.points, pts, b), score: b.score };
    const scale = box.width / b.width;
    if (scale > REFIT.maxScale || scale < 1 / REFIT.maxScale) return; // the landmarks lost the face
    out.push(withPoints(frame, { detection: { box, score: b.score }, landmarks: eyesOf(pts), positions: pts }, size));
  });
  return out;
}

/**
 * When refitFaces lets a face go. At 30 fps a followed face's size changed by at most 6 % a frame
 * on the benchmark clips (bench/video-tracking.ts: landmark jitter, a 1.45× zoom); the collapse at
 * the edge of the view shrank it by 15–50 % a frame.
 */
const REFIT = { minInside: 0.9, maxScale: 1.18 };

/** The share of `b`'s area that lies inside the frame. */
function insideShare(b: Box, frame: RgbFrame): number {
  const w = Math.min(frame.width, b.x + b.width) - Math.max(0, b.x);
  const h = Math.min(frame.height, b.y + b.height) - Math.max(0, b.y);
  return (Math.max(0, w) * Math.max(0, h)) / (b.width * b.height);
}

/** A rectangle of a frame, copied row by row (no copy of the whole frame). */
function cropRgb(frame: RgbFrame, x0: number, y0: number, w: number, h: number): RgbFrame {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * frame.width + x0) * 3;
    out.set(frame.data.subarray(from, from + w * 3), y * w * 3);
  }
  return { data: out, width: w, height: h };
}

interface Point {
  x: number;
  y: number;
}
type FoundFace = LandmarkedFace & { positions: Point[] };

async function findFaces(frame: RgbFrame, opts: DetectOptions): Promise<FoundFace[]> {
  const { ssd, tiny } = await faceNets();
  const detections = await ssd.detect(frame, {
    minConfidence: opts.minConfidence ?? DEFAULTS.faceMinConfidence,
    maxResults: opts.maxFaces ?? DEFAULTS.maxFaces,
  });
  let found = await withLandmarks(frame, detections);
  const isTrusted = (f: LandmarkedFace) => (opts.trusted ?? []).some((b) => iou(b, f.detection.box) >= 0.5);
  if (opts.confirm !== false && found.some((f) => !isTrusted(f))) {
    const second = await tiny.detect(frame, CONFIRM);
    const ok = new Set(confirmed(found, second));
    found = found.filter((f) => ok.has(f) || isTrusted(f));
  }
  return found;
}

/**
 * Each detection's 68 landmarks, as face-api's `withFaceLandmarks()` places them: the net sees the
 * box clipped to the image and floored (extractFaceTensors), and its points are shifted by the
 * box's own corner (extendWithFaceLandmarks).
 */
async function withLandmarks(frame: RgbFrame, detections: { box: Box; score: number }[]): Promise<FoundFace[]> {
  const { landmarks } = await faceNets();
  const clipped = detections.map(({ box: b }) => {
    const x = Math.max(b.x, 0);
    const y = Math.max(b.y, 0);
    const w = Math.min(b.x + b.width - x, frame.width - x);
    const h = Math.min(b.y + b.height - y, frame.height - y);
    return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
  });
  const usable = detections.filter((_, i) => clipped[i]!.width > 0 && clipped[i]!.height > 0);
  const crops = clipped.filter((c) => c.width > 0 && c.height > 0).map((c) => cropRgb(frame, c.x, c.y, c.width, c.height));
  const points = await landmarks.landmarks(crops);
  return usable.map((d, i) => {
    const positions = points[i]!.map((p) => ({ x: p.x + d.box.x, y: p.y + d.box.y }));
    return { detection: { box: d.box, score: d.score }, landmarks: eyesOf(positions), positions };
  });
}

function withPoints(frame: RgbFrame, f: FoundFace, size: number): FrameFace {
  const [aligned] = alignFaces(frame, [f], size);
  return { ...aligned!, points: f.positions.map((p) => ({ x: p.x, y: p.y })) };
}

/** 68-point layout: points 36–41 are the left eye (in the picture), 42–47 the right. */
const eyesOf = (pts: Point[]): LandmarkedFace['landmarks'] => ({
  getLeftEye: () => pts.slice(36, 42),
  getRightEye: () => pts.slice(42, 48),
});

/** `box` moved and scaled the way the landmarks moved from `before` to `after` (centre and spread). */
function carryBox(before: Point[], after: Point[], box: Box): Box {
  const stats = (pts: Point[]) => {
    const cx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
    const cy = pts.reduce((a, p) => a + p.y, 0) / pts.length;
    const spread = Math.sqrt(pts.reduce((a, p) => a + (p.x - cx) ** 2 + (p.y - cy) ** 2, 0) / pts.length);
    return { cx, cy, spread };
  };
  const p = stats(before);
  const q = stats(after);
  const s = q.spread / Math.max(1e-6, p.spread);
  const bx = box.x + box.width / 2;
  const by = box.y + box.height / 2;
  const width = box.width * s;
  const height = box.height * s;
  return { x: q.cx + (bx - p.cx) * s - width / 2, y: q.cy + (by - p.cy) * s - height / 2, width, height };
}
