/**
 * The server's cross-request batcher: concurrent requests share ONNX Runtime calls (at most
 * maxBatch, one at a time for a batch-attention model), each answer equals what the library's
 * predict() gives for that image alone, and a full queue refuses at once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DecodedImage } from '../src/data/image.js';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel, type Prediction } from '../src/infer/convcut-model.js';
import { Batcher, QueueFullError } from '../src/server/batcher.js';
import { initWeights } from '../src/weights/weight-map.js';
import { fakeImages, smallConfig } from './helpers.js';

const models: ConvCutModel[] = [];
afterEach(async () => {
  for (const m of models.splice(0)) await m.dispose();
});

async function model(attention: 'token' | 'batch' = 'token'): Promise<ConvCutModel> {
  const cfg = { ...smallConfig({ head: { attention } }) };
  cfg.head.temperature = 1.7; // the batcher must apply the model's temperature, as classify() does
  const m = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 31));
  models.push(m);
  return m;
}

function images(n: number, s: number): DecodedImage[] {
  const all = fakeImages(n, s, 5);
  return Array.from({ length: n }, (_, i) => ({ data: all.slice(i * s * s * 3, (i + 1) * s * s * 3), width: s, height: s }));
}

/** Batch sizes of every model.run() call. */
function spyBatches(m: ConvCutModel): number[] {
  const sizes: number[] = [];
  const run = m.run.bind(m);
  vi.spyOn(m, 'run').mockImplementation((batch) => {
    sizes.push(batch.shape[0]!);
    return run(batch);
  });
  return sizes;
}

describe('Batcher', () => {
  it('batches concurrent requests (≤ maxBatch per call) and answers each as predict() does alone', async () => {
    const m = await model();
    const ims = images(7, m.config.inputSize);
    const alone: Prediction[] = [];
    for (const im of ims) alone.push((await m.predict([im], { topK: 7, batchSize: 1 }))[0]!);
    const sizes = spyBatches(m);
    const b = new Batcher(m, 64, 3);
    const got = await Promise.all(ims.map((im, i) => b.predict(im, 1 + (i % 4))));
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(7);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(Math.max(...sizes)).toBeGreaterThan(1); // requests did share calls
    got.forEach((p, i) => {
      expect(p.label).toBe(alone[i]!.label);
      expect(p.top.map((t) => t.label)).toEqual(alone[i]!.top.slice(0, 1 + (i % 4)).map((t) => t.label));
      p.probabilities.forEach((q, c) => expect(q).toBeCloseTo(alone[i]!.probabilities[c]!, 5));
    });
  });

  it('runs a batch-attention model one request at a time', async () => {
    const m = await model('batch');
    const sizes = spyBatches(m);
    const b = new Batcher(m, 64, 8);
    expect(b.maxBatch).toBe(1);
    await Promise.all(images(4, m.config.inputSize).map((im) => b.predict(im)));
    expect(sizes).toEqual([1, 1, 1, 1]);
  });

  it('refuses at once when the queue is full, and keeps serving after', async () => {
    const m = await model();
    const b = new Batcher(m, 2, 8);
    const [a, c, d] = images(3, m.config.inputSize);
    const first = b.predict(a!); // taken from the queue at once
    const queued = [b.predict(c!), b.predict(d!)];
    await expect(b.predict(a!)).rejects.toBeInstanceOf(QueueFullError);
    await Promise.all([first, ...queued]);
    expect(b.pending).toBe(0);
    expect((await b.predict(a!)).label).toBe((await first).label);
  });

  it('rejects the requests of a batch the model fails on, and goes on with the next', async () => {
    const m = await model();
    const b = new Batcher(m, 64, 8);
    const [ok] = images(1, m.config.inputSize);
    const wrong: DecodedImage = { data: new Float32Array(5 * 5 * 3), width: 5, height: 5 };
    await expect(b.predict(wrong)).rejects.toThrow();
    expect((await b.predict(ok!)).top).toHaveLength(3);
  });
});
