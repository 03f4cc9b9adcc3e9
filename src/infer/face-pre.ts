/**
 * How pixels become the face networks' inputs, in plain arithmetic shared by Node (face-nets.ts,
 * face-ssd-detector.ts) and the web page (web/src/faces.ts): no ONNX Runtime and no Node module
 * here, so the page bundles it.
 */
import { FEATURE_INPUT, type SquareInput } from '../model/face-features.js';
import { SSD_SIZE } from '../model/face-ssd.js';

/** H × W × 3 RGB bytes. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * An image made square with zeros and resized to `size`×`size` as face-api's NetInput.toBatchTensor
 * does (ops/padToSquare.ts, then tf.image.resizeBilinear without align corners or half-pixel
 * centres: source = output · (in / out)), float32 0..255. The padded square is never built: pixels
 * outside the image read as 0.
 */
export function toSquare(img: RgbImage, o: Pick<SquareInput, 'size' | 'centred'>): Float32Array {
  const { width: w, height: h } = checkPixels(img);
  const side = Math.max(w, h);
  // padToSquare: Math.round(diff / 2) zeros after the image, the rest before it.
  const before = (diff: number) => (o.centred ? diff - Math.round(diff * 0.5) : 0);
  const xs = axisSamples(o.size, side, before(side - w), w, 3);
  const ys = axisSamples(o.size, side, before(side - h), h, 3 * w);
  return sample(img.data, xs, ys);
}

/**
 * An image stretched to `size`×`size` by tf.image.resizeBilinear without align corners or
 * half-pixel centres (what Human does to a face crop), float32 0..255.
 */
export function resizeTf(img: RgbImage, size: number): Float32Array {
  const { width: w, height: h } = checkPixels(img);
  return sample(img.data, axisSamples(size, w, 0, w, 3), axisSamples(size, h, 0, h, 3 * w));
}

function checkPixels(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  if (w < 1 || h < 1) throw new Error(`a face network's input must have pixels, got ${w}×${h}`);
  if (data.length !== w * h * 3) throw new Error(`a ${w}×${h} RGB image has ${w * h * 3} bytes, got ${data.length}`);
  return img;
}

/** The output grid, row by row, each value interpolated from the four samples `xs` × `ys` name. */
function sample(data: Uint8Array, xs: AxisSample[], ys: AxisSample[]): Float32Array {
  const out = new Float32Array(xs.length * ys.length * 3);
  let k = 0;
  for (const y of ys)
    for (const x of xs) {
      // Byte offsets of the four red values, −1 in the padding (zeros).
      const tl = y.lo < 0 || x.lo < 0 ? -1 : y.lo + x.lo;
      const tr = y.lo < 0 || x.hi < 0 ? -1 : y.lo + x.hi;
      const bl = y.hi < 0 || x.lo < 0 ? -1 : y.hi + x.lo;
      const br = y.hi < 0 || x.hi < 0 ? -1 : y.hi + x.hi;
      for (let c = 0; c < 3; c++, k++) {
        const a = tl < 0 ? 0 : data[tl + c]!;
        const b = tr < 0 ? 0 : data[tr + c]!;
        const d = bl < 0 ? 0 : data[bl + c]!;
        const e = br < 0 ? 0 : data[br + c]!;
        const top = a + (b - a) * x.t;
        const bottom = d + (e - d) * x.t;
        out[k] = top + (bottom - top) * y.t;
      }
    }
  return out;
}

interface AxisSample {
  lo: number;
  hi: number;
  t: number;
}

/**
 * TensorFlow's legacy bilinear sampling along one axis of the padded square (`side` cells, the image's
 * `n` starting at `offset`): for each output cell the two source cells as offsets into the pixel
 * data (`stride` per cell; −1 in the padding) and the weight of the second.
 */
function axisSamples(size: number, side: number, offset: number, n: number, stride: number): AxisSample[] {
  const scale = side / size;
  const at = (i: number) => (i - offset >= 0 && i - offset < n ? (i - offset) * stride : -1);
  return Array.from({ length: size }, (_, i) => {
    const src = i * scale;
    const lo = Math.floor(src);
    return { lo: at(lo), hi: at(Math.min(lo + 1, side - 1)), t: src - lo };
  });
}

/** Face crops as one batch for the landmark or expression net: (N, 112, 112, 3), each made square as face-api does. */
export function cropBatch(crops: RgbImage[]): Float32Array {
  const s = FEATURE_INPUT.size;
  const batch = new Float32Array(crops.length * s * s * 3);
  crops.forEach((c, i) => batch.set(toSquare(c, FEATURE_INPUT), i * s * s * 3));
  return batch;
}

/** A rectangle of a frame, copied row by row (no copy of the whole frame). */
export function cropRgb(frame: RgbImage, x0: number, y0: number, w: number, h: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * frame.width + x0) * 3;
    out.set(frame.data.subarray(from, from + w * 3), y * w * 3);
  }
  return { data: out, width: w, height: h };
}

/**
 * The crops the landmark net sees for detections, as face-api's `withFaceLandmarks()` cuts them
 * (extractFaceTensors): each box clipped to the image and floored. Boxes left with no pixels are
 * skipped; `kept` holds the indices of the others, in order.
 */
export function landmarkCrops(
  frame: RgbImage,
  boxes: { x: number; y: number; width: number; height: number }[],
): { kept: number[]; crops: RgbImage[] } {
  const kept: number[] = [];
  const crops: RgbImage[] = [];
  boxes.forEach((b, i) => {
    const x = Math.max(b.x, 0);
    const y = Math.max(b.y, 0);
    const w = Math.floor(Math.min(b.x + b.width - x, frame.width - x));
    const h = Math.floor(Math.min(b.y + b.height - y, frame.height - y));
    if (!(w > 0 && h > 0)) return;
    kept.push(i);
    crops.push(cropRgb(frame, Math.floor(x), Math.floor(y), w, h));
  });
  return { kept, crops };
}

/**
 * The SSD's input: the frame with zeros after it up to a square, resized to 512 × 512 by
 * TensorFlow's legacy bilinear, as face-api's NetInput makes it (here, not in the graph:
 * infer/face-ssd-detector.ts says why).
 */
export function ssdPixels(frame: RgbImage): Float32Array {
  return toSquare(frame, { size: SSD_SIZE, centred: false });
}

/**
 * How the face networks' ONNX Runtime sessions run: their threads do not spin between runs. Finding
 * faces runs four short sessions one after the other (SSD, landmarks, Tiny at two sizes), and each
 * one's spinning threads took the cores from the next: 229 → 110 ms for sample1's faces (2 cores).
 */
export const FACE_SESSION = { spinning: false } as const;
