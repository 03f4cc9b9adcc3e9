/**
 * libvips' `resize` with the `linear` kernel (what sharp's `resize(w, h, { kernel: 'linear' })` runs),
 * in plain TypeScript without Node or DOM, so the web page resizes as Node does. Followed from
 * libvips 8.18's resample/ sources (resize.c, reducev/reduceh.cpp, shrinkv/shrinkh.c, affine.c,
 * interpolate.c), fixed-point arithmetic included:
 *
 * - downsizing an axis: a box `shrink` by the integer part of (factor / 2) (resize's `gap` of 2),
 *   then `reduce` by what is left with a triangle filter of 2·rint(residual)+1 taps whose weights
 *   are tabulated at 1/64 pixel and held in 12-bit fixed point; vertical first, then horizontal;
 * - enlarging an axis: `affine` with bilinear interpolation (12-bit fixed point), edges copied.
 *
 * Measured against sharp in test/processor.test.ts.
 */

/** 8-bit pixels, row-major, `channels` interleaved values per pixel. */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

const SCALE = 1 << 12; // VIPS_INTERPOLATE_SCALE: fixed-point weights
const TABLE = 64; // VIPS_TRANSFORM_SCALE: sub-pixel positions tabulated
const GAP = 2; // vips_resize's default reducing gap
/**
 * vips_resize's input displacement when enlarging: ½ pixel on both axes in libvips 8.18 (sharp
 * 0.35's). libvips' master has 0.5·(1 − 1/scale) instead (#4909): the test sees such a change.
 */
const SHIFT = 0.5;

/** `width` × `height` from `src`, aspect ratio ignored (sharp's fit: 'fill'), as libvips does it. */
export function resizeLinear(src: Pixels, width: number, height: number): Pixels {
  // sharp passes 1 / (in / out) as the scale and libvips reduces by 1 / scale: kept as written, so
  // the doubles (and so the output sizes and offsets) are the same.
  const hscale = Math.max(1 / (src.width / width), 1 / src.width);
  const vscale = Math.max(1 / (src.height / height), 1 / src.height);
  let img = src;
  if (vscale < 1) img = transpose(reduceRows(transpose(img), 1 / vscale));
  if (hscale < 1) img = reduceRows(img, 1 / hscale);
  if (hscale > 1 || vscale > 1) img = enlarge(img, Math.max(hscale, 1), Math.max(vscale, 1));
  return img;
}

/**
 * Horizontal reduce (reduceh) by `shrink` ≥ 1, after the box pre-shrink libvips does first. The
 * vertical pass is this one on the transposed image: reducev's arithmetic is the same per column.
 */
function reduceRows(src: Pixels, shrink: number): Pixels {
  const out = Math.trunc(src.width / shrink + 0.5); // VIPS_ROUND_UINT
  let extra = out * shrink - src.width;
  let residual = shrink;
  let img = src;
  const box = Math.max(1, Math.floor(src.width / out / GAP));
  if (box > 1) {
    img = boxShrinkRows(src, box);
    residual /= box;
    extra /= box;
  }
  if (residual === 1) return img;
  const n = 2 * rint(residual) + 1;
  const offset = (1 + extra) / 2 - 1;
  const table = weightTable(n, residual);
  const pad = Math.ceil(n / 2) - 1; // the input is extended by copying its edge pixels
  const { width: w, height: h, channels: c, data } = img;
  const res = new Uint8Array(out * h * c);
  for (let x = 0; x < out; x++) {
    const X = (x + 0.5) * residual - 0.5 - offset; // in the extended input's coordinates
    const ix = Math.trunc(X);
    const k = table[((Math.trunc(X * TABLE * 2) & (TABLE * 2 - 1)) + 1) >> 1]!;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let b = 0; b < c; b++) {
        let sum = SCALE >> 1;
        for (let i = 0; i < n; i++) sum += k[i]! * data[(row + clamp(ix + i - pad, w)) * c + b]!;
        res[(y * out + x) * c + b] = Math.min(255, Math.max(0, sum >> 12));
      }
    }
  }
  return { data: res, width: out, height: h, channels: c };
}

/** Weights of an n-tap triangle filter widened by `shrink`, at each 1/64 pixel, in 12-bit fixed point. */
function weightTable(n: number, shrink: number): Int32Array[] {
  return Array.from({ length: TABLE + 1 }, (_, t) => {
    const half = t / TABLE + n / 2 - 1;
    const f = Array.from({ length: n }, (_, i) => Math.max(0, 1 - Math.abs((i - half) / shrink)));
    const sum = f.reduce((a, b) => a + b, 0);
    return Int32Array.from(f, (v) => Math.trunc((v / sum) * SCALE)); // (short) truncates
  });
}

/** shrinkh with `ceil`: the mean of each `k` pixels (the last group padded with the edge pixel). */
function boxShrinkRows(src: Pixels, k: number): Pixels {
  const { width: w, height: h, channels: c, data } = src;
  const out = Math.ceil(w / k);
  const multiplier = Math.floor(2 ** 32 / (256 * k)); // libvips divides by k as (· m) >> 24
  const res = new Uint8Array(out * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < out; x++)
      for (let b = 0; b < c; b++) {
        let sum = k >> 1;
        for (let j = 0; j < k; j++) sum += data[(y * w + Math.min(x * k + j, w - 1)) * c + b]!;
        res[(y * out + x) * c + b] = Math.floor((sum * multiplier) / 2 ** 24);
      }
  return { data: res, width: out, height: h, channels: c };
}

/**
 * vips_affine with a scale ≥ 1 on each axis and the bilinear interpolator, as vips_resize calls it
 * for upsizing (the input displaced by SHIFT on both axes, edges copied).
 */
function enlarge(src: Pixels, sx: number, sy: number): Pixels {
  const { width: w, height: h, channels: c, data } = src;
  const ow = roundInt(w * sx);
  const oh = roundInt(h * sy);
  // The inverse transform as libvips computes it (1/det · d, 1/det · a), steps included.
  const inv = 1 / (sx * sy);
  const [dx, dy] = [inv * sy, inv * sx];
  const res = new Uint8Array(ow * oh * c);
  const at = (x: number, y: number, b: number) => data[(clamp(y - 1, h) * w + clamp(x - 1, w)) * c + b]!;
  for (let oy = 0; oy < oh; oy++) {
    const iy = dy * oy + 1 - SHIFT; // in the input extended by one pixel each side
    const fy = Math.trunc(iy);
    const Y = Math.trunc((iy - fy) * SCALE);
    let ix = 1 - SHIFT; // stepped as libvips steps it (one addition per pixel)
    for (let ox = 0; ox < ow; ox++, ix += dx) {
      const fx = Math.trunc(ix);
      const X = Math.trunc((ix - fx) * SCALE);
      const c4 = (Y * X) >> 12;
      const c2 = ((SCALE - Y) * X) >> 12;
      const c3 = Y - c4;
      const c1 = SCALE - Y - c2;
      for (let b = 0; b < c; b++) {
        const v = c1 * at(fx, fy, b) + c2 * at(fx + 1, fy, b) + c3 * at(fx, fy + 1, b) + c4 * at(fx + 1, fy + 1, b);
        res[(oy * ow + ox) * c + b] = (v + (SCALE >> 1)) >> 12;
      }
    }
  }
  return { data: res, width: ow, height: oh, channels: c };
}

function transpose(src: Pixels): Pixels {
  const { width: w, height: h, channels: c, data } = src;
  const res = new Uint8Array(data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let b = 0; b < c; b++) res[(x * h + y) * c + b] = data[(y * w + x) * c + b]!;
  return { data: res, width: h, height: w, channels: c };
}

const clamp = (i: number, n: number) => (i < 0 ? 0 : i >= n ? n - 1 : i);

/** C's rint: to nearest, ties to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** VIPS_ROUND_INT: halves away from zero. */
const roundInt = (x: number) => Math.trunc(x > 0 ? x + 0.5 : x - 0.5);
