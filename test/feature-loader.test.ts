/** The worker-thread feature loader: same numbers as the cache, buffers reused across batches; bad entries named. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sample } from '../src/data/dataset.js';
import { FeatureCache } from '../src/train/feature-cache.js';
import { FeatureLoader } from '../src/train/feature-loader.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { encodeHalf } from '../src/util/f16.js';
import { Rng } from '../src/util/rng.js';

const shape = [7, 6, 8];
const size = 7 * 6 * 8;
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-loader-'));
const cache = new FeatureCache(dir, 'test', shape);
const sample = (i: number): Sample => ({
  id: `s${i}`,
  source: { kind: 'pixels', width: 1, height: 1, channels: 1, data: Uint8Array.of(i), origin: `img${i}.png` },
  label: 0,
  split: 'train',
});
const samples = [0, 1, 2, 3].map(sample);
const loader = new FeatureLoader(cache, 4);

afterAll(() => loader.close());

describe('FeatureLoader', () => {
  it('delivers what the cache holds, NHWC, in plain ArrayBuffers ONNX Runtime accepts', async () => {
    const rng = new Rng(5);
    for (const s of samples) {
      const f = new Float32Array(size).map(() => rng.normal());
      await writeFileAtomic(await cache.file(s, 'orig'), new Uint8Array(encodeHalf(f).buffer));
    }
    const variants = samples.map(() => 'orig' as const);
    const expected = await cache.readBatch(samples, variants);

    const nhwc = await loader.load(samples, variants);
    expect(nhwc.shape).toEqual([4, ...shape]);
    expect(Array.from(nhwc.data)).toEqual(Array.from(expected));
    expect(nhwc.data.buffer).toBeInstanceOf(ArrayBuffer); // not a SharedArrayBuffer: ORT refuses those
    nhwc.release();

    // Other samples in the buffers the worker handed back (two in flight at once): still exact.
    const reversed = [...samples].reverse();
    const exp2 = await cache.readBatch(reversed, variants);
    for (let round = 0; round < 3; round++) {
      const [a, b] = await Promise.all([loader.load(reversed, variants), loader.load(samples.slice(0, 2), variants)]);
      expect(Array.from(a.data)).toEqual(Array.from(exp2));
      expect(Array.from(b.data)).toEqual(Array.from(expected.subarray(0, 2 * size)));
      a.release();
      b.release();
    }
  });

  it('names a truncated cache entry and keeps working', async () => {
    const bad = sample(9);
    await writeFileAtomic(await cache.file(bad, 'orig'), new Uint8Array(10));
    await expect(loader.load([samples[0]!, bad], ['orig', 'orig'])).rejects.toThrow(
      /\.f16: cache entry has 10 bytes, expected 672/,
    );
    const ok = await loader.load(samples.slice(0, 2), ['orig', 'orig']);
    expect(ok.data.length).toBe(2 * size);
    ok.release();
  });
});
