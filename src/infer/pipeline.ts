/**
 * The one image stream every command uses (predict, eval, features, calibration, the library's
 * predict): items → decoded, resized images → batches for a model. While the model runs batch i
 * (ONNX Runtime on its own threads), batch i + 1 is already being decoded (sharp, on libuv's
 * threads), so neither waits for the other. Unreadable images are reported through `onSkip` and left
 * out; the stream goes on.
 */
import { decodeMany, stackImages, type DecodedImage, type ImageDecodeError, type ImageSource } from '../data/image.js';
import type { NamedArray } from '../engine/ort-session.js';

export interface PipelineBatch<S, O = NamedArray> {
  /** The inputs that decoded, in order. */
  items: S[];
  output: O;
}

export interface StreamOptions<S, O> {
  /** Square side the images are resized to (the model's input). */
  size: number;
  batchSize: number;
  /** One batch (N × size × size × 3, RGB 0..255) → whatever the caller wants from the model. */
  run: (batch: NamedArray, items: S[], images: DecodedImage[]) => Promise<O>;
  /** Where an item's pixels come from (default: the item is the source); decoded images pass through. */
  source?: (item: S) => ImageSource | DecodedImage;
  onSkip?: (e: ImageDecodeError, item: S) => void;
  /** After each batch is decoded: how many items it took (the skipped included). */
  onProgress?: (n: number) => void;
}

export async function* imageStream<S, O = NamedArray>(inputs: S[], o: StreamOptions<S, O>): AsyncGenerator<PipelineBatch<S, O>> {
  const source = o.source ?? ((s: S) => s as unknown as ImageSource);
  const decode = async (start: number) => {
    const part = inputs.slice(start, start + o.batchSize);
    const sources = part.map(source);
    const todo = sources.flatMap((src, i) => (isDecoded(src) ? [] : [i]));
    const res = await decodeMany(
      todo.map((i) => sources[i] as ImageSource),
      o.size,
    );
    o.onProgress?.(part.length);
    const ready: { item: S; image: DecodedImage }[] = [];
    sources.forEach((src, i) => {
      const r = isDecoded(src) ? { ok: true as const, image: src } : res[todo.indexOf(i)]!;
      if (r.ok) ready.push({ item: part[i]!, image: r.image });
      else o.onSkip?.(r.error, part[i]!);
    });
    return ready;
  };
  // The next batch decodes while this one runs; its failure is seen when it is awaited, not before.
  const prefetch = (start: number) => {
    const p = decode(start);
    p.catch(() => {});
    return p;
  };
  let next = inputs.length ? prefetch(0) : undefined;
  for (let start = 0; next; start += o.batchSize) {
    const ready = await next;
    next = start + o.batchSize < inputs.length ? prefetch(start + o.batchSize) : undefined;
    if (!ready.length) continue;
    const images = ready.map((r) => r.image);
    const items = ready.map((r) => r.item);
    yield { items, output: await o.run(stackImages(images), items, images) };
  }
}

/** `imageStream` with a model that maps a batch to one array (the backbone's features). */
export function pipelined<S extends ImageSource>(
  inputs: S[],
  size: number,
  batchSize: number,
  run: (batch: NamedArray) => Promise<NamedArray>,
  onSkip: (e: ImageDecodeError, input: S) => void = () => {},
): AsyncGenerator<PipelineBatch<S>> {
  return imageStream(inputs, { size, batchSize, run: (b) => run(b), onSkip });
}

function isDecoded(x: ImageSource | DecodedImage): x is DecodedImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && !('kind' in x) && x.data instanceof Float32Array;
}
