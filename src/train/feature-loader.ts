/**
 * Batches of cached features, read and decoded on a worker thread so that the next batch is ready
 * when the training step ends: tfjs-wasm computes on one core, the worker uses the other. The worker
 * can also deliver a batch already cut into the Detail Extraction Block's taps (detail-taps.ts),
 * which takes that rearrangement off the training thread too.
 */
import type { Worker } from 'node:worker_threads';
import type { Sample } from '../data/dataset.js';
import { tapsShape, type TapsGeometry } from '../engine/detail-taps.js';
import type { FeatureCache, Variant } from './feature-cache.js';
import type { LoadReply, LoadRequest } from './feature-loader-worker.js';
import { tsWorker } from '../util/worker.js';

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export interface LoadedBatch {
  data: Float32Array;
  /** Data shape: (N, ...featureShape), or the taps' (C, k·k, M). */
  shape: number[];
  /** Hands the buffer back for reuse; `data` must not be used afterwards. */
  release(): void;
}

export class FeatureLoader {
  private readonly worker: Worker;
  private readonly free: SharedArrayBuffer[] = [];
  private readonly ids = new Map<SharedArrayBuffer, number>();
  private readonly waitingForBuffer: ((b: SharedArrayBuffer) => void)[] = [];
  private readonly pending = new Map<number, (r: LoadReply) => void>();
  private nextId = 0;

  /**
   * `taps`: the geometry batches may be asked in (its padding makes them larger than NHWC);
   * `buffers`: batches in flight at once (2 = the one training plus the one being read).
   */
  constructor(
    readonly cache: FeatureCache,
    readonly maxBatch: number,
    taps?: TapsGeometry,
    buffers = 2,
  ) {
    const perSample = Math.max(cache.featureSize, taps ? product(tapsShape(taps, 1)) : 0);
    for (let i = 0; i < buffers; i++) {
      const b = new SharedArrayBuffer(maxBatch * perSample * 4);
      this.ids.set(b, i);
      this.free.push(b);
    }
    this.worker = tsWorker(new URL('./feature-loader-worker.ts', import.meta.url));
    this.worker.on('message', (r: LoadReply) => {
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
      if (!this.pending.size) this.worker.unref();
    });
    this.worker.on('error', (e) => {
      for (const done of this.pending.values()) done({ id: -1, error: { file: '(feature loader)', message: e.message } });
      this.pending.clear();
    });
    this.worker.unref();
  }

  /** Reads `samples[i]` in `variants[i]`; as NHWC, or as taps when `taps` is given. */
  async load(samples: Sample[], variants: Variant[], taps?: TapsGeometry): Promise<LoadedBatch> {
    if (samples.length > this.maxBatch) throw new Error(`batch of ${samples.length} exceeds the loader's ${this.maxBatch}`);
    const files = await Promise.all(samples.map((s, i) => this.cache.file(s, variants[i]!)));
    const buffer = await this.takeBuffer();
    const id = this.nextId++;
    const shape = taps ? tapsShape(taps, samples.length) : [samples.length, ...this.cache.featureShape];
    const length = product(shape);
    if (length * 4 > buffer.byteLength)
      throw new Error('FeatureLoader: batch larger than its buffers (taps geometry not given?)');
    const bufferId = this.ids.get(buffer)!;
    const request: LoadRequest = { id, files, featureSize: this.cache.featureSize, length, taps, buffer, bufferId };
    const reply = await new Promise<LoadReply>((resolve) => {
      this.pending.set(id, resolve);
      // Keep the process alive while a batch is being read, not while the worker idles.
      this.worker.ref();
      this.worker.postMessage(request);
    });
    if (reply.error) {
      this.giveBack(buffer);
      throw new Error(`${reply.error.file}: ${reply.error.message}`);
    }
    this.cache.hits += samples.length;
    return {
      data: new Float32Array(buffer, 0, length),
      shape,
      release: () => this.giveBack(buffer),
    };
  }

  private takeBuffer(): Promise<SharedArrayBuffer> {
    const b = this.free.pop();
    return b ? Promise.resolve(b) : new Promise((resolve) => this.waitingForBuffer.push(resolve));
  }

  private giveBack(b: SharedArrayBuffer): void {
    const waiter = this.waitingForBuffer.shift();
    if (waiter) waiter(b);
    else this.free.push(b);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
