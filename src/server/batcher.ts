/**
 * A bounded inference queue: requests wait in a FIFO of at most `maxQueue` entries and are run in
 * batches of up to `maxBatch` (1 for a `batch`-attention model, whose outputs would otherwise depend
 * on the other requests). A full queue rejects at once, so overload is answered with 503, not with
 * ever-growing latency and memory.
 */
import { stackImages, type DecodedImage } from '../data/image.js';
import type { ConvCutModel } from '../infer/convcut-model.js';
import { softmaxRows } from '../infer/classify.js';

export class QueueFullError extends Error {}

interface Job {
  image: DecodedImage;
  resolve: (p: Float32Array) => void;
  reject: (e: Error) => void;
}

export class Batcher {
  private queue: Job[] = [];
  private running = false;
  readonly maxBatch: number;

  constructor(
    private readonly model: ConvCutModel,
    readonly maxQueue = 64,
    maxBatch = 8,
  ) {
    this.maxBatch = model.config.head.attention === 'batch' ? 1 : maxBatch;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Class probabilities for one image (the model's input size). */
  classify(image: DecodedImage): Promise<Float32Array> {
    if (this.queue.length >= this.maxQueue)
      return Promise.reject(new QueueFullError(`inference queue is full (${this.maxQueue} waiting)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ image, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const jobs = this.queue.splice(0, this.maxBatch);
        try {
          const { logits } = await this.model.run(stackImages(jobs.map((j) => j.image)));
          const k = this.model.classes.length;
          const probs = softmaxRows(logits.data, k, this.model.config.head.temperature);
          jobs.forEach((j, i) => j.resolve(probs.slice(i * k, (i + 1) * k)));
        } catch (e) {
          for (const j of jobs) j.reject(e as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
