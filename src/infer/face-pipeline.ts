/**
 * Finding faces, once for Node (infer/faces.ts) and the web page (web/src/faces.ts): SSD detections,
 * their 68 landmarks placed as face-api places them, each face confirmed by the Tiny Face Detector
 * (at its usual size and at the size that sees large faces), and — when nothing is found — a
 * second look with a border round the picture. Each side brings only the networks (`FaceRunners`:
 * onnxruntime-node or onnxruntime-web running the same graphs); no ONNX Runtime or Node module here.
 */
import { CONFIRM, confirmed, iou, type Box, type LandmarkedFace } from './face-align.js';
import { landmarkCrops, type RgbImage } from './face-pre.js';

export interface Point {
  x: number;
  y: number;
}

/** The face networks, run by whichever ONNX Runtime the caller has. */
export interface FaceRunners {
  /** SSD's faces in `frame`'s pixels, best first (face-api's locateFaces). */
  ssd(frame: RgbImage, o: { minConfidence: number; maxResults: number }): Promise<{ box: Box; score: number }[]>;
  /** The Tiny Face Detector's boxes in `frame`'s pixels at `inputSize`. */
  tiny(frame: RgbImage, o: { inputSize: number; scoreThreshold: number }): Promise<Box[]>;
  /** 68 points per crop, in that crop's pixels; all crops in one run. */
  landmarks(crops: RgbImage[]): Promise<Point[][]>;
}

export interface FindOptions {
  minConfidence: number;
  maxFaces: number;
  /** false: keep SSD's detections without the second detector's agreement (more false faces: animals). */
  confirm?: boolean;
  /** false: no second look with a border round the picture when no face is found. */
  retryWithBorder?: boolean;
  /** Faces already confirmed (video: the tracked faces of the frame before): no second opinion needed. */
  trusted?: Box[];
}

/** A face found: its SSD box and score, its landmarks, and the eyes alignment uses. */
export type FoundFace = LandmarkedFace & { positions: Point[] };

export async function findFaces(r: FaceRunners, frame: RgbImage, o: FindOptions): Promise<FoundFace[]> {
  const found = await findConfirmed(r, frame, o);
  if (found.length || o.retryWithBorder === false) return found;
  // SSD misses many faces that fill the picture (a portrait, a face crop); with a border round the
  // picture the same face is one it knows (bench/face-quality.ts: 30 of 41 missed crops found, no
  // false face on the photos without people).
  const b = withBorder(frame);
  const back = (p: Point) => ({ x: (p.x - b.pad) / b.sx, y: (p.y - b.pad) / b.sy });
  return (await findConfirmed(r, b.image, o)).map((f) => {
    const d = f.detection.box;
    const box = { ...back(d), width: d.width / b.sx, height: d.height / b.sy };
    const positions = f.positions.map(back);
    return { detection: { box, score: f.detection.score }, landmarks: eyesOf(positions), positions };
  });
}

async function findConfirmed(r: FaceRunners, frame: RgbImage, o: FindOptions): Promise<FoundFace[]> {
  const detections = await r.ssd(frame, { minConfidence: o.minConfidence, maxResults: o.maxFaces });
  const found = await withLandmarks(r, frame, detections);
  const isTrusted = (f: LandmarkedFace) => (o.trusted ?? []).some((b) => iou(b, f.detection.box) >= 0.5);
  if (o.confirm === false || found.every(isTrusted)) return found;
  const { inputSize, largeInputSize, scoreThreshold } = CONFIRM;
  const second = await r.tiny(frame, { inputSize, scoreThreshold });
  const kept = (boxes: Box[]) => {
    const ok = new Set(confirmed(found, boxes));
    return found.filter((f) => ok.has(f) || isTrusted(f));
  };
  const usual = kept(second);
  // The large-face size only for faces the usual size did not confirm (most photos: none).
  if (usual.length === found.length) return usual;
  return kept([...second, ...(await r.tiny(frame, { inputSize: largeInputSize, scoreThreshold }))]);
}

/**
 * Each detection's 68 landmarks, as face-api's `withFaceLandmarks()` places them: the net sees the
 * box clipped to the image and floored (extractFaceTensors), and its points are shifted by the
 * box's own corner (extendWithFaceLandmarks).
 */
async function withLandmarks(r: FaceRunners, frame: RgbImage, detections: { box: Box; score: number }[]): Promise<FoundFace[]> {
  const { kept, crops } = landmarkCrops(
    frame,
    detections.map((d) => d.box),
  );
  const points = crops.length ? await r.landmarks(crops) : [];
  return kept.map((k, i) => {
    const { box, score } = detections[k]!;
    const positions = points[i]!.map((p) => ({ x: p.x + box.x, y: p.y + box.y }));
    return { detection: { box, score }, landmarks: eyesOf(positions), positions };
  });
}

/** 68-point layout: points 36–41 are the left eye (in the picture), 42–47 the right. */
export const eyesOf = (pts: Point[]): LandmarkedFace['landmarks'] => ({
  getLeftEye: () => pts.slice(36, 42),
  getRightEye: () => pts.slice(42, 48),
});

/** Largest side of the bordered picture: SSD sees 512 px anyway, and a large photo would cost memory. */
const BORDERED_MAX = 1024;

/**
 * `frame` with a black border of half its longer side all round, scaled (bilinear) so that the
 * whole is at most BORDERED_MAX a side; `sx`, `sy` and `pad` map its pixels back to the frame's.
 */
export function withBorder(frame: RgbImage): { image: RgbImage; pad: number; sx: number; sy: number } {
  const side = Math.max(frame.width, frame.height);
  const scale = Math.min(1, BORDERED_MAX / (2 * side));
  const w = Math.max(1, Math.round(frame.width * scale));
  const h = Math.max(1, Math.round(frame.height * scale));
  const pad = Math.round((side * scale) / 2);
  const [W, H] = [w + 2 * pad, h + 2 * pad];
  const out = new Uint8Array(W * H * 3);
  const [sx, sy] = [w / frame.width, h / frame.height];
  for (let y = 0; y < h; y++) {
    const fy = Math.min(frame.height - 1, Math.max(0, (y + 0.5) / sy - 0.5));
    const [y0, ty] = [Math.floor(fy), fy - Math.floor(fy)];
    const y1 = Math.min(frame.height - 1, y0 + 1);
    for (let x = 0; x < w; x++) {
      const fx = Math.min(frame.width - 1, Math.max(0, (x + 0.5) / sx - 0.5));
      const [x0, tx] = [Math.floor(fx), fx - Math.floor(fx)];
      const x1 = Math.min(frame.width - 1, x0 + 1);
      const o = ((y + pad) * W + x + pad) * 3;
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => frame.data[(yy * frame.width + xx) * 3 + c]!;
        const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * tx;
        const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * tx;
        out[o + c] = Math.round(top + (bottom - top) * ty);
      }
    }
  }
  return { image: { data: out, width: W, height: H }, pad, sx, sy };
}
