/**
 * Batches of cached features, read and decoded on a worker thread so that the next batch is ready
 * when the training step ends. Each batch buffer is an ArrayBuffer that moves between the threads
 * (transferred, never copied): ONNX Runtime takes the batch straight from it, and it refuses
 * SharedArrayBuffer-backed arrays.
 */
import type { Worker } from 'node:worker_threads';
import type { Sample } from '../data/dataset.js';
import type { FeatureCache, Variant } from './feature-cache.js';
import type { LoadReply, LoadRequest } from './feature-loader-worker.js';
import { tsWorker } from '../util/worker.js';

export interface LoadedBatch {
  data: Float32Array;
  /** (N, ...featureShape). */
  shape: number[];
  /** Hands the buffer back for reuse; `data` must not be used afterwards. */
  release(): void;
}

export class FeatureLoader {
  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private readonly waitingForSlot: ((s: ArrayBuffer) => void)[] = [];
  private readonly pending = new Map<number, (r: LoadReply) => void>();
  private nextId = 0;

  /**
   * `maxBatch`: the most samples one batch may hold; `buffers`: batches in flight at once (2 = the
   * one training plus the one being read). Buffers grow to what the batches asked for need.
   */
  constructor(
    readonly cache: FeatureCache,
    readonly maxBatch: number,
    buffers = 2,
  ) {
    for (let i = 0; i < buffers; i++) this.free.push(new ArrayBuffer(0));
    this.worker = tsWorker(new URL('./feature-loader-worker.ts', import.meta.url));
    this.worker.on('message', (r: LoadReply) => {
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
      if (!this.pending.size) this.worker.unref();
    });
    this.worker.on('error', (e) => {
      for (const done of this.pending.values())
        done({ id: -1, buffer: new ArrayBuffer(0), error: { file: '(feature loader)', message: e.message } });
      this.pending.clear();
    });
    this.worker.unref();
  }

  /**
   * Reads `samples[i]` in `variants[i]`, NHWC. When the images are already hashed and a buffer is
   * free (the usual case in training), the request reaches the worker before this returns, so
   * reading overlaps the caller's next step.
   */
  load(samples: Sample[], variants: Variant[]): Promise<LoadedBatch> {
    if (samples.length > this.maxBatch)
      return Promise.reject(new Error(`batch of ${samples.length} exceeds the loader's ${this.maxBatch}`));
    const known = samples.map((s, i) => this.cache.knownFile(s, variants[i]!));
    const slot = this.free.pop();
    if (slot && known.every((f) => f !== undefined)) return this.request(slot, known as string[]);
    if (slot) this.giveBack(slot);
    return (async () => {
      const files = await Promise.all(samples.map((s, i) => this.cache.file(s, variants[i]!)));
      return this.request(await this.takeSlot(), files);
    })();
  }

  /** Posts the request now; resolves with the batch when the worker has written it. */
  private async request(slot: ArrayBuffer, files: string[]): Promise<LoadedBatch> {
    const id = this.nextId++;
    const shape = [files.length, ...this.cache.featureShape];
    const length = shape.reduce((a, b) => a * b, 1);
    const buffer = length * 4 > slot.byteLength ? new ArrayBuffer(length * 4) : slot;
    const request: LoadRequest = { id, files, featureSize: this.cache.featureSize, length, buffer };
    const reply = await new Promise<LoadReply>((resolve) => {
      this.pending.set(id, resolve);
      // Keep the process alive while a batch is being read, not while the worker idles.
      this.worker.ref();
      this.worker.postMessage(request, [buffer]);
    });
    if (reply.error) {
      this.giveBack(reply.buffer);
      throw new Error(`${reply.error.file}: ${reply.error.message}`);
    }
    this.cache.hits += files.length;
    return {
      data: new Float32Array(reply.buffer, 0, length),
      shape,
      release: () => this.giveBack(reply.buffer),
    };
  }

  private takeSlot(): Promise<ArrayBuffer> {
    const s = this.free.pop();
    return s ? Promise.resolve(s) : new Promise((resolve) => this.waitingForSlot.push(resolve));
  }

  private giveBack(s: ArrayBuffer): void {
    const waiter = this.waitingForSlot.shift();
    if (waiter) waiter(s);
    else this.free.push(s);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
