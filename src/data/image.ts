/**
 * Image decoding with sharp (bundled libvips): any format libvips reads (JPEG, PNG, WebP, BMP via
 * magick-less loaders where available, TIFF, GIF), EXIF orientation applied, greyscale/CMYK/16-bit
 * converted to 8-bit sRGB, alpha dropped (as PIL's convert('RGB') in the reference), and a
 * bilinear resize to the model's square input, ignoring aspect ratio as Keras'
 * `image_dataset_from_directory` does.
 */
import sharp from 'sharp';

export interface DecodedImage {
  /** H × W × 3, RGB, 0..255. */
  data: Float32Array;
  width: number;
  height: number;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: cannot decode image (${reason})`);
    this.name = 'ImageDecodeError';
  }
}

/** Maximum number of input pixels accepted (guards against decompression bombs). */
export const MAX_INPUT_PIXELS = 100_000_000;

export async function decodeImage(
  input: string | Uint8Array,
  size: number,
  name = typeof input === 'string' ? input : '<buffer>',
): Promise<DecodedImage> {
  try {
    const { data, info } = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
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

/** Stack decoded images into one N×S×S×3 batch. */
export function stackImages(images: DecodedImage[]): { data: Float32Array; shape: number[] } {
  const s = images[0]?.width ?? 0;
  const per = s * s * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((im, i) => data.set(im.data, i * per));
  return { data, shape: [images.length, s, s, 3] };
}
