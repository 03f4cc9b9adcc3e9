/**
 * Training augmentation on decoded images (H × W × 3, 0..255), seeded.
 *
 * The reference's two: random horizontal flip, and Keras RandomContrast(0.3): a factor f drawn
 * per image from [0.7, 1.3], then per channel (x − mean(x))·f + mean(x), clipped to [0, 255].
 * Optional extras, all off by default: random resized crop, small rotation, brightness jitter,
 * random erasing.
 */
import { Rng } from '../util/rng.js';
import type { DecodedImage } from './image.js';

export function hflip(img: DecodedImage): DecodedImage {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = data[(y * w + (w - 1 - x)) * 3 + c]!;
  return { ...img, data: out };
}

export function adjustContrast(img: DecodedImage, factor: number): DecodedImage {
  const n = img.width * img.height;
  const mean = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) mean[c]! += img.data[i * 3 + c]!;
  for (let c = 0; c < 3; c++) mean[c]! /= n;
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      out[i * 3 + c] = Math.min(255, Math.max(0, (img.data[i * 3 + c]! - mean[c]!) * factor + mean[c]!));
  return { ...img, data: out };
}

/** Bilinear sample of `img` through the inverse map (x, y) → (sx, sy), same size as `img`. */
function warp(img: DecodedImage, inv: (x: number, y: number) => [number, number]): DecodedImage {
  return affineSample(img, img.width, img.height, inv);
}

/**
 * An `outW`×`outH` image whose pixel (x, y) is `img` sampled bilinearly at inv(x, y) (pixel centres at
 * +0.5; coordinates clamped to the border). Used for augmentation and for face alignment.
 */
export function affineSample(
  img: { width: number; height: number; data: ArrayLike<number> },
  outW: number,
  outH: number,
  inv: (x: number, y: number) => [number, number],
): DecodedImage {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(outW * outH * 3);
  // Written out by hand (no per-pixel arrays): it runs per video frame and per training image.
  for (let y = 0; y < outH; y++)
    for (let x = 0; x < outW; x++) {
      const [sx, sy] = inv(x + 0.5, y + 0.5);
      const fx = sx - 0.5;
      const fy = sy - 0.5;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const ax = fx - x0;
      const ay = fy - y0;
      const w00 = (1 - ax) * (1 - ay);
      const w10 = ax * (1 - ay);
      const w01 = (1 - ax) * ay;
      const w11 = ax * ay;
      const px0 = Math.min(w - 1, Math.max(0, x0));
      const px1 = Math.min(w - 1, Math.max(0, x0 + 1));
      const py0 = Math.min(h - 1, Math.max(0, y0));
      const py1 = Math.min(h - 1, Math.max(0, y0 + 1));
      const i00 = (py0 * w + px0) * 3;
      const i10 = (py0 * w + px1) * 3;
      const i01 = (py1 * w + px0) * 3;
      const i11 = (py1 * w + px1) * 3;
      const o = (y * outW + x) * 3;
      for (let c = 0; c < 3; c++) {
        // Same terms in the same order as before, so results are bit-identical.
        let v = 0;
        v += w00 * data[i00 + c]!;
        v += w10 * data[i10 + c]!;
        v += w01 * data[i01 + c]!;
        v += w11 * data[i11 + c]!;
        out[o + c] = v;
      }
    }
  return { width: outW, height: outH, data: out };
}

export interface AugmentOptions {
  flip: boolean;
  /** Contrast factor range half-width (0.3 → [0.7, 1.3]); 0 = off. */
  contrast: number;
  /** Random resized crop: minimum area fraction (e.g. 0.8); 0 = off. */
  cropScale: number;
  /** Maximum rotation in degrees; 0 = off. */
  rotate: number;
  /** Brightness jitter half-width in 0..255 units; 0 = off. */
  brightness: number;
  /** Probability of erasing one random rectangle; 0 = off. */
  erase: number;
}

export const REFERENCE_AUGMENTATION: AugmentOptions = {
  flip: true,
  contrast: 0.3,
  cropScale: 0,
  rotate: 0,
  brightness: 0,
  erase: 0,
};

export class Augmenter {
  private rng: Rng;
  constructor(
    readonly opts: AugmentOptions,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  apply(img: DecodedImage): DecodedImage {
    const { opts, rng } = this;
    let out = img;
    if (opts.flip && rng.next() < 0.5) out = hflip(out);
    if (opts.cropScale > 0 || opts.rotate > 0) {
      const scale = opts.cropScale > 0 ? Math.sqrt(rng.uniform(opts.cropScale, 1)) : 1;
      const angle = (rng.uniform(-opts.rotate, opts.rotate) * Math.PI) / 180;
      const cx = out.width / 2 + rng.uniform(-1, 1) * (1 - scale) * (out.width / 2);
      const cy = out.height / 2 + rng.uniform(-1, 1) * (1 - scale) * (out.height / 2);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const w2 = out.width / 2;
      const h2 = out.height / 2;
      out = warp(out, (x, y) => {
        const dx = (x - w2) * scale;
        const dy = (y - h2) * scale;
        return [cx + cos * dx - sin * dy, cy + sin * dx + cos * dy];
      });
    }
    if (opts.contrast > 0) out = adjustContrast(out, rng.uniform(1 - opts.contrast, 1 + opts.contrast));
    if (opts.brightness > 0) {
      const d = rng.uniform(-opts.brightness, opts.brightness);
      out = { ...out, data: out.data.map((v) => Math.min(255, Math.max(0, v + d))) };
    }
    if (opts.erase > 0 && rng.next() < opts.erase) {
      const ew = Math.round(out.width * rng.uniform(0.1, 0.3));
      const eh = Math.round(out.height * rng.uniform(0.1, 0.3));
      const x0 = rng.int(out.width - ew);
      const y0 = rng.int(out.height - eh);
      const data = out.data.slice();
      for (let y = y0; y < y0 + eh; y++)
        for (let x = x0; x < x0 + ew; x++) for (let c = 0; c < 3; c++) data[(y * out.width + x) * 3 + c] = rng.uniform(0, 255);
      out = { ...out, data };
    }
    return out;
  }
}
