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

/** A shared buffer of the pool; a new id whenever the buffer is replaced by a larger one. */
interface Slot {
  id: number;
  buffer: SharedArrayBuffer;
}

export class FeatureLoader {
  private readonly worker: Worker;
  private readonly free: Slot[] = [];
  private readonly waitingForSlot: ((s: Slot) => void)[] = [];
  private readonly pending = new Map<number, (r: LoadReply) => void>();
  private nextId = 0;
  private nextSlotId = 0;

  /**
   * `maxBatch`: the most samples one batch may hold; `buffers`: batches in flight at once (2 = the
   * one training plus the one being read). Buffers grow to what the batches asked for need.
   */
  constructor(
    readonly cache: FeatureCache,
    readonly maxBatch: number,
    buffers = 2,
  ) {
    for (let i = 0; i < buffers; i++) this.free.push({ id: this.nextSlotId++, buffer: new SharedArrayBuffer(0) });
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

  /**
   * Reads `samples[i]` in `variants[i]`; as NHWC, or as taps when `taps` is given. When the images
   * are already hashed and a buffer is free (the usual case in training), the request reaches the
   * worker before this returns, so reading overlaps the caller's next synchronous step.
   */
  load(samples: Sample[], variants: Variant[], taps?: TapsGeometry): Promise<LoadedBatch> {
    if (samples.length > this.maxBatch)
      return Promise.reject(new Error(`batch of ${samples.length} exceeds the loader's ${this.maxBatch}`));
    const known = samples.map((s, i) => this.cache.knownFile(s, variants[i]!));
    const slot = this.free.pop();
    if (slot && known.every((f) => f !== undefined)) return this.request(slot, known as string[], taps);
    if (slot) this.giveBack(slot);
    return (async () => {
      const files = await Promise.all(samples.map((s, i) => this.cache.file(s, variants[i]!)));
      return this.request(await this.takeSlot(), files, taps);
    })();
  }

  /** Posts the request now; resolves with the batch when the worker has written it. */
  private async request(slot: Slot, files: string[], taps?: TapsGeometry): Promise<LoadedBatch> {
    const id = this.nextId++;
    const shape = taps ? tapsShape(taps, files.length) : [files.length, ...this.cache.featureShape];
    const length = product(shape);
    if (length * 4 > slot.buffer.byteLength) slot = { id: this.nextSlotId++, buffer: new SharedArrayBuffer(length * 4) };
    const request: LoadRequest = {
      id,
      files,
      featureSize: this.cache.featureSize,
      length,
      taps,
      buffer: slot.buffer,
      bufferId: slot.id,
    };
    const reply = await new Promise<LoadReply>((resolve) => {
      this.pending.set(id, resolve);
      // Keep the process alive while a batch is being read, not while the worker idles.
      this.worker.ref();
      this.worker.postMessage(request);
    });
    if (reply.error) {
      this.giveBack(slot);
      throw new Error(`${reply.error.file}: ${reply.error.message}`);
    }
    this.cache.hits += files.length;
    return {
      data: new Float32Array(slot.buffer, 0, length),
      shape,
      release: () => this.giveBack(slot),
    };
  }

  private takeSlot(): Promise<Slot> {
    const s = this.free.pop();
    return s ? Promise.resolve(s) : new Promise((resolve) => this.waitingForSlot.push(resolve));
  }

  private giveBack(s: Slot): void {
    const waiter = this.waitingForSlot.shift();
    if (waiter) waiter(s);
    else this.free.push(s);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
