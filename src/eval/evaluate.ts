/**
 * Evaluate a trained model on a data set split, the sound way: each image's prediction depends on
 * that image only, so the metrics do not depend on batch size or order (`batchSize` is a speed
 * knob). A `batch`-attention (reference) model is evaluated one image per batch (where its
 * attention is the identity) — the only per-image reading of it.
 *
 * `protocol: 'reference'` additionally runs the published evaluation: the split sorted by class and
 * fed in batches of 32, so a batch-attention model sees mostly same-class neighbours. Both numbers
 * are reported, so the inflation is visible.
 */
import type { Problem, Sample, Split } from '../data/dataset.js';
import { decodeMany, stackImages } from '../data/image.js';
import { openDataset, type OpenOptions } from '../data/open-dataset.js';
import type { DeviceChoice } from '../engine/device.js';
import type { Precision } from '../engine/onnx-export.js';
import { ConvCutModel } from '../infer/convcut-model.js';
import { softmaxRows } from '../infer/classify.js';
import {
  argmaxRows,
  bootstrapIntervals,
  computeMetrics,
  expectedCalibrationError,
  reliabilityBins,
  type Metrics,
  type ReliabilityBin,
} from './metrics.js';

export interface EvalOptions {
  model: string;
  data: string;
  split?: Split | 'all';
  batchSize?: number;
  protocol?: 'sound' | 'reference';
  /** int8 backbone MatMuls (checkpoints only). */
  precision?: Precision;
  ferplusMode?: OpenOptions['ferplusMode'];
  /** cpu, webgpu or auto (engine/device.ts). */
  device?: DeviceChoice;
  onProgress?: (n: number, total: number) => void;
}

export interface EvalResult {
  model: string;
  data: string;
  format: string;
  split: string;
  classes: string[];
  attention: string;
  metrics: Metrics;
  /** The published protocol's metrics (class-ordered batches of 32), when asked for. */
  reference?: Metrics;
  embeddings: { data: Float32Array; dim: number; labels: number[] };
  /** Per image (sound protocol), in order: its id, true and predicted class, class probabilities (N × classes). */
  predictions: { ids: string[]; labels: number[]; predicted: Int32Array; probabilities: Float32Array };
  /** Expected calibration error of top-1 confidence, 15 equal-width bins (`expectedCalibrationError`). */
  ece: number;
  /** Softmax temperature the model applies (fitted on validation; 1 = none), and the ECE without it. */
  temperature: number;
  eceBeforeScaling?: number;
  /** The reliability diagram's 15 bins of top-1 confidence. */
  reliability: ReliabilityBin[];
  /** 95 % bootstrap intervals of accuracy, UAR and macro-F1 (1,000 resamples, seed 0). */
  intervals: ReturnType<typeof bootstrapIntervals>;
  problems: Problem[];
  seconds: number;
}

const REFERENCE_BATCH = 32;

export async function evaluate(o: EvalOptions): Promise<EvalResult> {
  const t0 = Date.now();
  const model = await ConvCutModel.load(o.model, { precision: o.precision, device: o.device });
  try {
    const ds = await openDataset(o.data, { ferplusMode: o.ferplusMode });
    const classes = model.classes;
    if (ds.classes.join() !== classes.join()) {
      throw new Error(`${o.data}: its classes (${ds.classes.join(', ')}) differ from the model's (${classes.join(', ')})`);
    }
    const split = o.split ?? 'test';
    const samples = ds.samples.filter((s) => split === 'all' || s.split === split);
    if (!samples.length) throw new Error(`${o.data}: no images in the ${split} split`);
    const perImage = model.config.head.attention === 'batch';
    const bs = perImage ? 1 : Math.max(1, o.batchSize ?? 16);
    const problems: Problem[] = [...ds.problems];
    const k = classes.length;
    const dim = model.config.head.hidden;

    const run = async (list: Sample[], batch: number, chunkSize: number) => {
      const labels: number[] = [];
      const ids: string[] = [];
      const logits: number[] = [];
      const emb: number[] = [];
      for (let i = 0; i < list.length; i += chunkSize) {
        const part = list.slice(i, i + chunkSize);
        const decoded = await decodeMany(
          part.map((s) => s.source),
          model.config.inputSize,
        );
        const ok = decoded.flatMap((d, j) => (d.ok ? [{ img: d.image, s: part[j]! }] : []));
        for (const d of decoded) if (!d.ok) problems.push(d.error.problem);
        for (let b = 0; b < ok.length; b += batch) {
          const chunk = ok.slice(b, b + batch);
          const out = await model.run(stackImages(chunk.map((c) => c.img)));
          logits.push(...out.logits.data);
          emb.push(...out.embedding.data);
          labels.push(...chunk.map((c) => c.s.label));
          ids.push(...chunk.map((c) => c.s.id));
        }
        o.onProgress?.(part.length, list.length);
      }
      const all = Float32Array.from(logits);
      return { labels, ids, logits: all, preds: argmaxRows(all, k), emb: Float32Array.from(emb) };
    };

    const sound = await run(samples, bs, Math.max(bs, 64));
    const metrics = computeMetrics(sound.labels, sound.preds, classes);
    // The model's own probabilities: at its fitted temperature (1 when it has none).
    const temperature = model.config.head.temperature ?? 1;
    const probabilities = softmaxRows(sound.logits, k, temperature);
    let reference: Metrics | undefined;
    if (o.protocol === 'reference') {
      const ordered = [...samples].sort((a, b) => a.label - b.label);
      // Decode in chunks of exactly 32 so each batch is the reference's batch.
      const r = await run(ordered, REFERENCE_BATCH, REFERENCE_BATCH);
      reference = computeMetrics(r.labels, r.preds, classes);
    }
    return {
      model: o.model,
      data: o.data,
      format: ds.format,
      split,
      classes,
      attention: model.config.head.attention,
      metrics,
      reference,
      embeddings: { data: sound.emb, dim, labels: sound.labels },
      predictions: { ids: sound.ids, labels: sound.labels, predicted: sound.preds, probabilities },
      ece: expectedCalibrationError(probabilities, sound.labels, k),
      temperature,
      eceBeforeScaling: temperature === 1 ? undefined : expectedCalibrationError(softmaxRows(sound.logits, k), sound.labels, k),
      reliability: reliabilityBins(probabilities, sound.labels, k),
      intervals: bootstrapIntervals(sound.labels, sound.preds, classes, 0),
      problems: problems.filter(
        (p, i) => problems.findIndex((q) => q.file === p.file && q.line === p.line && q.message === p.message) === i,
      ),
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await model.dispose();
  }
}
