/**
 * The server's cross-request batcher: a bounded FIFO of at most `maxQueue` images whose waiting
 * requests are run together, up to `maxBatch` at a time (1 for a `batch`-attention model, whose
 * outputs would otherwise depend on the other requests). A full queue rejects at once, so overload
 * is answered with 503, not with ever-growing latency and memory.
 *
 * Each batch takes the path every command takes: the image stream (infer/pipeline.ts) stacks the
 * decoded images, the model runs them, and its `classify()` (softmax at its temperature, top-k)
 * turns each row into that request's prediction.
 */
import type { DecodedImage } from '../data/image.js';
import { DEFAULTS } from '../defaults.js';
import type { ConvCutModel, Prediction } from '../infer/convcut-model.js';
import { imageStream } from '../infer/pipeline.js';

export class QueueFullError extends Error {}

interface Job {
  image: DecodedImage;
  topK: number;
  resolve: (p: Prediction) => void;
  reject: (e: Error) => void;
}

export class Batcher {
  private queue: Job[] = [];
  private running = false;
  readonly maxBatch: number;

  constructor(
    private readonly model: ConvCutModel,
    readonly maxQueue: number = DEFAULTS.server.maxQueue,
    maxBatch: number = DEFAULTS.server.maxBatch,
  ) {
    this.maxBatch = model.config.head.attention === 'batch' ? 1 : maxBatch;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** The prediction for one image (decoded at the model's input size), with its `topK` classes. */
  predict(image: DecodedImage, topK: number = DEFAULTS.topK): Promise<Prediction> {
    if (this.queue.length >= this.maxQueue)
      return Promise.reject(new QueueFullError(`inference queue is full (${this.maxQueue} waiting)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ image, topK, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) await this.runBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.running = false;
    }
  }

  /** One batch of waiting requests through the image stream, the model and its classify(). */
  private async runBatch(jobs: Job[]): Promise<void> {
    const k = this.model.classes.length;
    try {
      const stream = imageStream(jobs, {
        size: this.model.config.inputSize,
        batchSize: jobs.length,
        source: (j) => j.image,
        run: (batch) => this.model.run(batch),
        onSkip: (e, j) => j.reject(e),
      });
      for await (const { items, output } of stream) {
        const logits = output.logits.data;
        items.forEach((j, i) => j.resolve(this.model.classify(logits.subarray(i * k, (i + 1) * k), j.topK)[0]!));
      }
    } catch (e) {
      for (const j of jobs) j.reject(e as Error); // a no-op for the jobs already answered
    }
  }
}
