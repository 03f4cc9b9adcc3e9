/**
 * A pipelined image → backbone path: while ONNX Runtime runs batch i (on its own threads), the next
 * batch is already being decoded (sharp, on libuv's threads), so neither waits for the other.
 * Unreadable images are reported through `onSkip` and left out; the batch goes on.
 */
import { decodeMany, stackImages, type ImageDecodeError, type ImageSource } from '../data/image.js';
import type { NamedArray } from '../engine/ort-session.js';

export interface PipelineBatch<S> {
  /** The inputs that decoded, in order. */
  items: S[];
  output: NamedArray;
}

export async function* pipelined<S extends ImageSource>(
  inputs: S[],
  size: number,
  batchSize: number,
  run: (batch: NamedArray) => Promise<NamedArray>,
  onSkip: (e: ImageDecodeError, input: S) => void = () => {},
): AsyncGenerator<PipelineBatch<S>> {
  const decode = async (start: number) => {
    const part = inputs.slice(start, start + batchSize);
    const res = await decodeMany(part, size);
    const ok = res.flatMap((r, i) => {
      if (r.ok) return [{ item: part[i]!, image: r.image }];
      onSkip(r.error, part[i]!);
      return [];
    });
    return ok;
  };
  let next = inputs.length ? decode(0) : undefined;
  for (let start = 0; next; start += batchSize) {
    const ready = await next;
    next = start + batchSize < inputs.length ? decode(start + batchSize) : undefined;
    if (!ready.length) continue;
    const output = await run(stackImages(ready.map((r) => r.image)));
    yield { items: ready.map((r) => r.item), output };
  }
}
