/**
 * Validation during training: accuracy of the trainable part on cached features (the frozen part's
 * outputs), with the trainer's current weights.
 */
import type { Sample } from '../data/dataset.js';
import { computeMetrics, argmaxRows, type Metrics } from './metrics.js';
import type { FeatureCache, Variant } from '../train/feature-cache.js';
import type { FeatureLoader } from '../train/feature-loader.js';
import type { OrtTrainer } from '../train/ort-trainer.js';

/**
 * `batching`: a batch size (results do not depend on it for per-image models) or 'class-ordered'
 * (the reference: samples sorted by class, batches of 16, which leaks labels through batch
 * attention). With a `loader`, the next batch is read on its worker thread while this one runs
 * (batches then hold at most its maxBatch).
 */
export async function validateOnFeatures(
  trainer: OrtTrainer,
  samples: Sample[],
  cache: FeatureCache,
  batching: number | 'class-ordered',
  classes: string[],
  loader?: FeatureLoader,
): Promise<Metrics> {
  const list = batching === 'class-ordered' ? [...samples].sort((a, b) => a.label - b.label) : samples;
  const bs = batching === 'class-ordered' ? 16 : Math.min(batching, loader?.maxBatch ?? batching);
  const read = async (i: number) => {
    const part = list.slice(i, i + bs);
    const variants = part.map((): Variant => 'orig');
    if (loader && part.length <= loader.maxBatch) return loader.load(part, variants);
    return { data: await cache.readBatch(part, variants), shape: [part.length, ...cache.featureShape], release: () => undefined };
  };
  const preds: number[] = [];
  let next = list.length ? read(0) : undefined;
  for (let i = 0; i < list.length; i += bs) {
    const loaded = await next!;
    next = i + bs < list.length ? read(i + bs) : undefined;
    next?.catch(() => undefined); // surfaces when awaited
    const { logits } = await trainer.predict(loaded).finally(() => loaded.release());
    preds.push(...argmaxRows(logits, classes.length));
  }
  return computeMetrics(
    list.map((s) => s.label),
    preds,
    classes,
  );
}
