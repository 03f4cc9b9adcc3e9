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
import { openImage } from '../data/image.js';
import { alignFaces, type Box, type DetectedFace } from './face-align.js';
import { LandmarkNet, TinyDetector } from './face-nets.js';
import { eyesOf, findFaces as findWith, type FaceRunners, type FoundFace, type Point } from './face-pipeline.js';
import { cropRgb } from './face-pre.js';
import { SsdDetector } from './face-ssd-detector.js';
import { DEFAULTS } from '../defaults.js';
import type { Device } from '../engine/device.js';

export type { Box, DetectedFace, FaceBox } from './face-align.js';

let runners: Promise<FaceRunners> | undefined;
let device: Device | undefined;

/** Where the face networks run (`--device` of predict and serve); the default is CONVCUT_DEVICE's, else the CPU. */
export function useFaceDevice(d: Device): void {
  if (d === device) return;
  device = d;
  runners = undefined; // loaded again, on that device, when next needed
}

/** The three networks on onnxruntime-node, built and loaded once per process. */
function faceRunners(): Promise<FaceRunners> {
  runners ??= (async () => {
    const o = { device };
    const [ssd, tiny, landmarks] = await Promise.all([SsdDetector.load(o), TinyDetector.load(o), LandmarkNet.load(o)]);
    return {
      ssd: (frame, o) => ssd.detect(frame, o),
      tiny: (frame, o) => tiny.detect(frame, o),
      landmarks: (crops) => landmarks.landmarks(crops),
    };
  })();
  runners.catch(() => (runners = undefined)); // a failed load is tried again
  return runners;
}

/** A photo's pixels as they come from a decoder: H × W × 3, RGB, 0..255, one byte each. */
export interface RgbFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * A photo (file or bytes) decoded for the detectors: EXIF orientation applied, sRGB, no alpha; any
 * format plain `predict` reads (the same opener: BMPs too).
 */
export async function decodePhoto(input: string | Uint8Array): Promise<RgbFrame> {
  const { data, info } = await openImage(input)
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
  /** false: no second look, with a border round the picture, when none is found. */
  retryWithBorder?: boolean;
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
  const { landmarks } = await faceRunners();
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
  const points = kept.length ? await landmarks(kept.map((k) => k.crop)) : []; // every face in one run
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

async function findFaces(frame: RgbFrame, opts: DetectOptions): Promise<FoundFace[]> {
  return findWith(await faceRunners(), frame, {
    ...opts,
    minConfidence: opts.minConfidence ?? DEFAULTS.faceMinConfidence,
    maxFaces: opts.maxFaces ?? DEFAULTS.maxFaces,
  });
}

function withPoints(frame: RgbFrame, f: FoundFace, size: number): FrameFace {
  const [aligned] = alignFaces(frame, [f], size);
  return { ...aligned!, points: f.positions.map((p) => ({ x: p.x, y: p.y })) };
}

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
