/**
 * On-disk cache of frozen-backbone outputs, so later epochs and later runs skip the backbone.
 *
 * One float16 file per (image, variant): 14×14×512 maps take 200,704 bytes. The key hashes
 * everything the features depend on — the frozen weights, the cut (or fine-tuning prefix), the input
 * size, the variant (original / horizontally flipped) and the image's own bytes — so an entry can
 * never be stale: change any of them and it is simply a different key.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { stackImages } from '../data/image.js';
import { imageStream } from '../infer/pipeline.js';
import type { Problem, Sample } from '../data/dataset.js';
import { hflip } from '../data/augment.js';
import type { BackboneRunner } from '../infer/features.js';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeHalf, encodeHalf } from '../util/f16.js';
import { sha256 } from '../util/hash.js';

export type Variant = 'orig' | 'flip';

export class FeatureCache {
  private imageHashes = new Map<string, string>();
  /** Backbone images computed by this cache (0 on a warm second run). */
  computed = 0;
  hits = 0;

  constructor(
    readonly dir: string,
    /** Everything but the image: weights hash, prefix/cut name, input size. */
    readonly context: string,
    readonly featureShape: number[],
  ) {}

  get featureSize(): number {
    return this.featureShape.reduce((a, b) => a * b, 1);
  }

  private async imageHash(s: Sample): Promise<string> {
    let h = this.imageHashes.get(s.id);
    if (!h) {
      h = s.source.kind === 'file' ? sha256(await fs.readFile(s.source.path)) : sha256(s.source.data);
      this.imageHashes.set(s.id, h);
    }
    return h;
  }

  async file(s: Sample, v: Variant): Promise<string> {
    return this.entryPath(await this.imageHash(s), v);
  }

  /** `file()` without waiting, where the image is already hashed (it is once `ensure` has seen it). */
  knownFile(s: Sample, v: Variant): string | undefined {
    const h = this.imageHashes.get(s.id);
    return h === undefined ? undefined : this.entryPath(h, v);
  }

  private entryPath(imageHash: string, v: Variant): string {
    const key = sha256(`${this.context}|${v}|${imageHash}`);
    return path.join(this.dir, key.slice(0, 2), `${key}.f16`);
  }

  async read(s: Sample, v: Variant, out?: Float32Array): Promise<Float32Array> {
    const f = await this.file(s, v);
    const bytes = await fs.readFile(f);
    if (bytes.length !== this.featureSize * 2)
      throw new Error(`${f}: cache entry has ${bytes.length} bytes, expected ${this.featureSize * 2}`);
    this.hits++;
    return decodeHalf(new Uint16Array(bytes.buffer, bytes.byteOffset, this.featureSize), out);
  }

  /** Several cached maps stacked into one (N, ...featureShape) array, `variants[i]` for sample i. */
  async readBatch(samples: Sample[], variants: Variant[]): Promise<Float32Array> {
    const n = this.featureSize;
    const out = new Float32Array(samples.length * n);
    await Promise.all(samples.map((s, i) => this.read(s, variants[i]!, out.subarray(i * n, (i + 1) * n))));
    return out;
  }

  /**
   * Make sure every (sample, variant) is cached, running the backbone on the missing ones.
   * Images that cannot be decoded are returned as problems (and their samples should be dropped).
   */
  async ensure(
    samples: Sample[],
    variants: Variant[],
    runner: BackboneRunner,
    batchSize: number,
    onProgress?: (n: number) => void,
  ): Promise<Problem[]> {
    const problems: Problem[] = [];
    const todo: { s: Sample; v: Variant[] }[] = [];
    for (const s of samples) {
      let missing: Variant[];
      try {
        const files = await Promise.all(variants.map((v) => this.file(s, v)));
        missing = variants.filter((_, i) => !existsSync(files[i]!));
      } catch (e) {
        problems.push({
          file: s.source.kind === 'file' ? s.source.path : s.source.origin,
          message: `cannot read (${(e as Error).message})`,
        });
        onProgress?.(1);
        continue;
      }
      if (missing.length) todo.push({ s, v: missing });
      else onProgress?.(1);
    }
    // The shared image stream: the next samples decode while the backbone runs on these.
    const stream = imageStream(todo, {
      size: runner.config.inputSize,
      batchSize,
      source: (t) => t.s.source,
      onSkip: (e) => problems.push(e.problem),
      onProgress,
      run: async (_batch, items, images) => {
        const jobs = items.flatMap((t, j) => t.v.map((v) => ({ s: t.s, v, img: v === 'flip' ? hflip(images[j]!) : images[j]! })));
        for (let k = 0; k < jobs.length; k += batchSize) {
          const chunk = jobs.slice(k, k + batchSize);
          const feats = await runner.run(stackImages(chunk.map((c) => c.img)));
          this.computed += chunk.length;
          await Promise.all(
            chunk.map(async (c, idx) => {
              const half = encodeHalf(feats.data.subarray(idx * this.featureSize, (idx + 1) * this.featureSize));
              const f = await this.file(c.s, c.v);
              await fs.mkdir(path.dirname(f), { recursive: true });
              await writeFileAtomic(f, new Uint8Array(half.buffer));
            }),
          );
        }
      },
    });
    for await (const _ of stream); // the work happens in run()
    return problems;
  }
}
