/**
 * Cut features rearranged into the patches the Detail Extraction Block's first depthwise conv reads
 * (kernel = stride, so the patches do not overlap), in the layout its training kernel reduces
 * fastest on tfjs-wasm: taps (C, k·k, M), positions M = N·ho·wo innermost (`patchDepthwiseTaps`).
 *
 * Why: on wasm, padding and cutting a 16×14×14×512 batch into patches inside the graph costs ~10 ms
 * of a head-training step (measured, BENCHMARKS.md). Written here in plain JS — by the feature
 * loader's worker thread, which is otherwise idle while tfjs computes on one core — the same
 * rearrangement costs the training thread nothing.
 */
import { samePadding, type Padding } from '../model/ops.js';
import { HALF_TABLE } from '../util/f16.js';

export interface TapsGeometry {
  /** One sample's NHWC feature shape, without N. */
  h: number;
  w: number;
  c: number;
  kernel: number;
  padTop: number;
  padLeft: number;
  /** Output grid of the conv. */
  ho: number;
  wo: number;
}

export function tapsGeometry([h, w, c]: number[], kernel: number, padding: Padding): TapsGeometry {
  const [padTop] = padding === 'same' ? samePadding(h!, kernel, kernel) : [0];
  const [padLeft] = padding === 'same' ? samePadding(w!, kernel, kernel) : [0];
  const ho = padding === 'same' ? Math.ceil(h! / kernel) : Math.floor(h! / kernel);
  const wo = padding === 'same' ? Math.ceil(w! / kernel) : Math.floor(w! / kernel);
  return { h: h!, w: w!, c: c!, kernel, padTop: padTop!, padLeft: padLeft!, ho, wo };
}

/** The taps tensor's shape for a batch of n samples: (C, k·k, n·ho·wo). */
export function tapsShape(g: TapsGeometry, n: number): [number, number, number] {
  return [g.c, g.kernel * g.kernel, n * g.ho * g.wo];
}

/**
 * Writes sample `index` of a batch of `n` (its NHWC features `src`, float32 or float16 bits) into
 * `out` (the whole batch's taps). Taps that fall in the padding are left as they are: `out` must
 * start zeroed.
 */
export function writeTaps(g: TapsGeometry, n: number, index: number, src: Float32Array | Uint16Array, out: Float32Array): void {
  const { h, w, c, kernel: k, padTop, padLeft, ho, wo } = g;
  const m = n * ho * wo;
  const cStride = k * k * m;
  const half = src instanceof Uint16Array;
  for (let y = 0; y < h; y++) {
    const py = y + padTop;
    const oy = Math.floor(py / k);
    if (oy >= ho) continue; // cropped by 'valid'
    for (let x = 0; x < w; x++) {
      const px = x + padLeft;
      const ox = Math.floor(px / k);
      if (ox >= wo) continue;
      let dst = ((py % k) * k + (px % k)) * m + (index * ho + oy) * wo + ox;
      let s = (y * w + x) * c;
      if (half) for (let ch = 0; ch < c; ch++, dst += cStride) out[dst] = HALF_TABLE[src[s++]!]!;
      else for (let ch = 0; ch < c; ch++, dst += cStride) out[dst] = src[s++]!;
    }
  }
}
