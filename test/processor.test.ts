/**
 * The processor's resize (src/infer/resize.ts, what the web page runs) against sharp (libvips),
 * the reference Node decodes and resizes with, on real photos no one here made: scikit-image's
 * (python3-skimage) and face-api's samples.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Region } from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/data/image.js';
import { checkProcessor, preprocess, processorFor } from '../src/infer/processor.js';
import { resizeLinear, type Pixels } from '../src/infer/resize.js';
import { FIXTURES } from './helpers.js';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const FACE_API = path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo');
const PNGS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'camera.png', 'motorcycle_left.png'].map((f) =>
  path.join(SKIMAGE, f),
);
const JPEGS = [1, 2, 3, 4, 5, 6].map((i) => path.join(FACE_API, `sample${i}.jpg`));

function need(file: string): string {
  if (!existsSync(file))
    throw new Error(`${file} is missing: apt-get install python3-skimage (face-api's samples come with npm ci)`);
  return file;
}

/** The photo fully decoded (oriented, sRGB, RGB), as a browser's decoder gives it. */
async function fullDecode(file: string): Promise<Pixels> {
  const { data, info } = await sharp(need(file))
    .rotate()
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

async function sharpResize(px: Pixels, width: number, height: number, crop?: Region): Promise<Pixels> {
  let img = sharp(px.data, { raw: { width: px.width, height: px.height, channels: px.channels as 3 } });
  if (crop) img = img.extract(crop);
  const { data, info } = await img
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function crop(px: Pixels, r: Region): Pixels {
  const data = new Uint8Array(r.width * r.height * px.channels);
  for (let y = 0; y < r.height; y++) {
    const start = ((r.top + y) * px.width + r.left) * px.channels;
    data.set(px.data.subarray(start, start + r.width * px.channels), y * r.width * px.channels);
  }
  return { data, width: r.width, height: r.height, channels: px.channels };
}

function diff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

describe('the processor resize against sharp (libvips linear)', () => {
  // Downsizing (box shrink + triangle reduce), mixed, and enlarging (bilinear affine), odd sizes too.
  const SIZES: [number, number][] = [
    [224, 224],
    [112, 112],
    [300, 200],
    [37, 23],
  ];

  it('reproduces sharp bit for bit on real photos, downsizing to any size', async () => {
    for (const file of [...PNGS, ...JPEGS]) {
      const px = await fullDecode(file);
      for (const [w, h] of SIZES) {
        const ref = await sharpResize(px, w, h);
        const ours = resizeLinear(px, w, h);
        expect([ours.width, ours.height, ours.channels]).toEqual([ref.width, ref.height, ref.channels]);
        expect(diff(ours.data, ref.data), `${path.basename(file)} → ${w}×${h}`).toEqual({ max: 0, mean: 0 });
      }
    }
  }, 120_000);

  it('reproduces sharp bit for bit when enlarging, or enlarging one axis and reducing the other', async () => {
    for (const file of [PNGS[0]!, JPEGS[0]!]) {
      const px = await fullDecode(file);
      for (const region of [
        { left: 201, top: 77, width: 61, height: 83 },
        { left: 13, top: 5, width: 150, height: 400 },
      ]) {
        const part = crop(px, region);
        for (const [w, h] of [
          [224, 224],
          [224, 100],
          [333, 451],
        ] as [number, number][]) {
          const ref = await sharpResize(px, w, h, region);
          expect(
            diff(resizeLinear(part, w, h).data, ref.data),
            `${path.basename(file)} ${JSON.stringify(region)} → ${w}×${h}`,
          ).toEqual({ max: 0, mean: 0 });
        }
      }
    }
  }, 60_000);
});

describe('the processor against Node (decodeImage)', () => {
  const p = processorFor({ inputSize: 224 });

  it('gives the model the pixels decodeImage gives, from fully decoded PNGs', async () => {
    for (const file of PNGS) {
      const node = await decodeImage(file, p.size);
      expect(diff(preprocess(p, await fullDecode(file)), node.data), path.basename(file)).toEqual({ max: 0, mean: 0 });
    }
  });

  it('equals decodeImage on large JPEGs too (sharp’s shrink-on-load is off there)', async () => {
    // sharp would decode a JPEG much larger than the target at 1/2, 1/4 or 1/8 in the DCT domain
    // before resizing; a page gets the full image from the browser. With shrink-on-load on, this
    // differed by max 16–76, mean 0.39–1.52 levels on face-api's six 1920-px samples.
    for (const file of JPEGS) {
      const ours = preprocess(p, await fullDecode(file));
      expect(diff(ours, (await decodeImage(file, p.size)).data), path.basename(file)).toEqual({ max: 0, mean: 0 });
    }
  }, 60_000);

  it('accepts RGBA (a canvas’s pixels): alpha is dropped, as sharp does for opaque images', async () => {
    const px = await fullDecode(PNGS[1]!);
    const rgba = new Uint8Array(px.width * px.height * 4).fill(255);
    for (let i = 0; i < px.width * px.height; i++) rgba.set(px.data.subarray(i * 3, i * 3 + 3), i * 4);
    const node = await decodeImage(PNGS[1]!, p.size);
    expect(diff(preprocess(p, { data: rgba, width: px.width, height: px.height, channels: 4 }), node.data).max).toBe(0);
  });
});

describe('the processor description', () => {
  it('is built from the config and survives JSON (what /v1/model sends the page)', () => {
    const p = processorFor({ inputSize: 112 });
    expect(p.size).toBe(112);
    expect(checkProcessor(JSON.parse(JSON.stringify(p)))).toEqual(p);
  });

  it('is refused, naming the difference, when it asks for processing this code does not do', () => {
    const p = { ...processorFor({ inputSize: 112 }), resize: { fit: 'cover', kernel: 'lanczos3' } };
    expect(() => checkProcessor(p)).toThrow(/unsupported processor resize: .*lanczos3/);
    expect(() => checkProcessor({})).toThrow(/no processor/);
  });
});
