/**
 * The processor: how an image becomes the model's input, declared once from the checkpoint's
 * config — the first of the three steps from file to prediction (processor → model, in
 * convcut-model.ts → post-processing, in classify.ts).
 *
 * Node carries it out with sharp (data/image.ts `decodeImage`: EXIF orientation, 8-bit sRGB,
 * alpha dropped, libvips' linear resize to size × size ignoring the aspect ratio). The web page
 * receives the same description with the model's info (GET /v1/model) and carries it out with
 * `preprocess`: the browser decodes, this file resizes with libvips' arithmetic (resize.ts), so
 * the page feeds the model the pixels Node would (test/processor.test.ts measures how closely).
 * Plain TypeScript, no Node or DOM.
 */
import type { ConvCutConfig } from '../model/config.js';
import { resizeLinear, type Pixels } from './resize.js';

export type { Pixels } from './resize.js';

export interface ImageProcessor {
  /** The model's input is `size` × `size` pixels. */
  size: number;
  /** EXIF orientation applied before anything else. */
  orientation: 'exif';
  /** Decoded to 8-bit sRGB; an alpha channel is dropped, not composited (as PIL's convert('RGB')). */
  colour: 'srgb';
  alpha: 'drop';
  /**
   * The whole image to size × size, aspect ratio ignored (Keras' image_dataset_from_directory),
   * with libvips' `linear` kernel (box shrink, then a triangle filter; bilinear when enlarging).
   */
  resize: { fit: 'fill'; kernel: 'linear' };
  /** What the model is fed: float32, N × size × size × 3, RGB, 0..255; ImageNet mean/std is inside the graph. */
  tensor: { layout: 'nhwc'; channels: 'rgb'; range: [0, 255]; dtype: 'float32' };
}

export function processorFor(config: Pick<ConvCutConfig, 'inputSize'>): ImageProcessor {
  return {
    size: config.inputSize,
    orientation: 'exif',
    colour: 'srgb',
    alpha: 'drop',
    resize: { fit: 'fill', kernel: 'linear' },
    tensor: { layout: 'nhwc', channels: 'rgb', range: [0, 255], dtype: 'float32' },
  };
}

/**
 * `p` (as a server sent it) if this code carries out exactly that processing; otherwise an error
 * naming what differs, so a page never feeds a model differently prepared pixels without saying so.
 */
export function checkProcessor(p: unknown): ImageProcessor {
  const got = p as Partial<ImageProcessor> | undefined;
  if (!got || !Number.isInteger(got.size) || got.size! < 1) throw new Error('the model info has no processor with an input size');
  const want = processorFor({ inputSize: got.size! });
  for (const key of Object.keys(want) as (keyof ImageProcessor)[])
    if (JSON.stringify(got[key]) !== JSON.stringify(want[key]))
      throw new Error(`unsupported processor ${key}: ${JSON.stringify(got[key])} (this page does ${JSON.stringify(want[key])})`);
  return want;
}

/**
 * One decoded, oriented, sRGB image (8-bit RGB, or RGBA as a canvas gives it) → the model's input
 * for it: size × size × 3 floats, RGB, 0..255. The alpha channel is dropped first: the same as
 * sharp for opaque pixels (sharp resizes translucent ones premultiplied).
 */
export function preprocess(p: ImageProcessor, pixels: Pixels): Float32Array {
  const rgb = dropAlpha(pixels);
  return Float32Array.from(resizeLinear(rgb, p.size, p.size).data);
}

function dropAlpha(px: Pixels): Pixels {
  if (px.channels === 3) return px;
  if (px.channels !== 4) throw new Error(`expected RGB or RGBA pixels, got ${px.channels} channels`);
  const data = new Uint8Array(px.width * px.height * 3);
  for (let i = 0; i < px.width * px.height; i++) for (let k = 0; k < 3; k++) data[i * 3 + k] = px.data[i * 4 + k]!;
  return { data, width: px.width, height: px.height, channels: 3 };
}
