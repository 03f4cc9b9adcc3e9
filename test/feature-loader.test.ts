/** The worker-thread feature loader: same numbers as the cache, in NHWC or taps layout; bad entries named. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sample } from '../src/data/dataset.js';
import { tapsGeometry, tapsShape, writeTaps } from '../src/engine/detail-taps.js';
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
const taps = tapsGeometry(shape, 4, 'same');
const loader = new FeatureLoader(cache, 4);

afterAll(() => loader.close());

describe('FeatureLoader', () => {
  it('delivers what the cache holds, as NHWC and as Detail Extraction taps', async () => {
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
    nhwc.release();

    const got = await loader.load(samples, variants, taps);
    expect(got.shape).toEqual(tapsShape(taps, 4));
    const want = new Float32Array(got.data.length);
    for (let n = 0; n < 4; n++) writeTaps(taps, 4, n, expected.subarray(n * size, (n + 1) * size), want);
    expect(Array.from(got.data)).toEqual(Array.from(want));
    // Padding taps are zero even though the buffer held other data before.
    expect(got.data.some((v) => v === 0)).toBe(true);
    got.release();
    // Again in taps, other samples in the same buffers: the padding stays zero without a refill.
    const reversed = [...samples].reverse();
    const exp2 = await cache.readBatch(reversed, variants);
    for (let round = 0; round < 2; round++) {
      const again = await loader.load(reversed, variants, taps);
      const want2 = new Float32Array(again.data.length);
      for (let n = 0; n < 4; n++) writeTaps(taps, 4, n, exp2.subarray(n * size, (n + 1) * size), want2);
      expect(Array.from(again.data)).toEqual(Array.from(want2));
      again.release();
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
