/**
 * Image decoding with sharp (bundled libvips): any format libvips reads (JPEG, PNG, WebP, BMP via
 * magick-less loaders where available, TIFF, GIF), EXIF orientation applied, greyscale/CMYK/16-bit
 * converted to 8-bit sRGB, alpha dropped (as PIL's convert('RGB') in the reference), and a
 * bilinear resize to the model's square input, ignoring aspect ratio as Keras'
 * `image_dataset_from_directory` does.
 */
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { decodeBmp, isBmp } from './bmp.js';
import type { PixelSource } from './dataset.js';
import { DEFAULTS } from '../defaults.js';

export interface DecodedImage {
  /** H × W × 3, RGB, 0..255. */
  data: Float32Array;
  width: number;
  height: number;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: cannot decode image (${reason})`);
    this.name = 'ImageDecodeError';
  }

  /** As a data-set problem: the file, and what is wrong with it. */
  get problem(): { file: string; message: string } {
    return { file: this.file, message: `cannot decode image (${this.reason})` };
  }
}

/** Maximum number of input pixels accepted (guards against decompression bombs). */
export const MAX_INPUT_PIXELS = 100_000_000;

export type ImageSource = string | Uint8Array | PixelSource;

/** A sharp pipeline on any image convcut reads (BMPs decoded here: sharp's libvips has no BMP loader). */
export function openImage(input: ImageSource): Sharp {
  const opts: SharpOptions = { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' };
  if (typeof input === 'string' || input instanceof Uint8Array || input.kind === 'file') {
    const file = typeof input === 'string' ? input : input instanceof Uint8Array ? undefined : input.path;
    const bytes = file === undefined ? (input as Uint8Array) : undefined;
    // libvips in sharp has no BMP loader: BMPs are decoded here and handed over as raw pixels.
    const head = bytes ?? readHead(file!);
    if (isBmp(head)) {
      const bmp = decodeBmp(bytes ?? readFileSync(file!));
      return sharp(bmp.data, { ...opts, raw: { width: bmp.width, height: bmp.height, channels: 3 } });
    }
    return sharp(bytes ?? file, opts);
  }
  const { width, height, channels } = input;
  return sharp(input.data, { ...opts, raw: { width, height, channels } });
}

function readHead(file: string): Uint8Array {
  try {
    const fd = openSync(file, 'r');
    const head = new Uint8Array(32);
    const n = readSync(fd, head, 0, 32, 0);
    closeSync(fd);
    return head.subarray(0, n);
  } catch {
    return new Uint8Array(0); // let sharp report the missing file
  }
}

export function sourceName(input: ImageSource): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return '<buffer>';
  return input.kind === 'file' ? input.path : input.origin;
}

export async function decodeImage(input: ImageSource, size: number, name = sourceName(input)): Promise<DecodedImage> {
  try {
    // A pipeline colourspace turns off sharp's JPEG shrink-on-load (decoding at 1/2–1/8 in the DCT
    // domain), which no browser can do: so the web page's resize of the same photo (infer/resize.ts)
    // gives these very pixels (test/processor.test.ts, test/browser.test.ts).
    const { data, info } = await openImage(input)
      .pipelineColourspace('srgb')
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: Float32Array.from(data), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    const msg = (e as Error).message.split('\n')[0] ?? 'unknown error';
    throw new ImageDecodeError(name, msg);
  }
}

/** A decoded image (values rounded to 8 bits) as PNG bytes: saved face crops, report thumbnails. */
export function encodePng(image: DecodedImage): Promise<Buffer> {
  const { width, height } = image;
  return sharp(Buffer.from(Uint8Array.from(image.data, (v) => Math.round(v))), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Stack decoded images into one N×S×S×3 batch. */
export function stackImages(images: DecodedImage[]): { data: Float32Array; shape: number[] } {
  const s = images[0]?.width ?? 0;
  const per = s * s * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((im, i) => data.set(im.data, i * per));
  return { data, shape: [images.length, s, s, 3] };
}

/**
 * Decode many images with `concurrency` in flight. sharp decodes on libuv's thread pool; 4 in flight
 * kept both cores busiest in bench/decode.ts (1.6× one at a time). Failures are returned, not
 * thrown: one corrupt image never stops a batch.
 */
export async function decodeMany(
  inputs: ImageSource[],
  size: number,
  concurrency: number = DEFAULTS.decodeConcurrency,
): Promise<({ ok: true; image: DecodedImage } | { ok: false; error: ImageDecodeError })[]> {
  const out = new Array<{ ok: true; image: DecodedImage } | { ok: false; error: ImageDecodeError }>(inputs.length);
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const i = next++;
      try {
        out[i] = { ok: true, image: await decodeImage(inputs[i]!, size) };
      } catch (e) {
        out[i] = {
          ok: false,
          error: e instanceof ImageDecodeError ? e : new ImageDecodeError(sourceName(inputs[i]!), String(e)),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return out;
}
