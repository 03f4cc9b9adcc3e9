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
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stackImages, type DecodedImage } from '../data/image.js';
import { imageStream } from '../infer/pipeline.js';
import { openDataset, type OpenOptions } from '../data/open-dataset.js';
import type { DeviceChoice } from '../engine/device.js';
import type { Precision } from '../engine/onnx-export.js';
import { hflip } from '../data/augment.js';
import { ConvCutModel } from '../infer/convcut-model.js';
import { loadBaseline, type BaselineName, type Scorer } from './baselines.js';
import { readRafAttributes } from '../data/rafdb-attributes.js';
import { rafdbStem } from '../data/rafdb.js';
import { fairness, type Fairness } from './fairness.js';
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
import { DEFAULTS } from '../defaults.js';

export interface EvalOptions {
  /** A convcut model (file, hf:…, URL); or leave it out and name a `baseline`. */
  model?: string;
  /** Evaluate a JS toolkit's own expression model instead (eval/baselines.ts). */
  baseline?: BaselineName;
  data: string;
  split?: Split | 'all';
  batchSize?: number;
  protocol?: 'sound' | 'reference';
  /** int8 backbone MatMuls (checkpoints only). */
  precision?: Precision;
  /** Test-time augmentation: `flip` averages the probabilities of each image and its mirror image. */
  tta?: 'flip';
  /** A file listing the images to evaluate (one name per line: an id, a file name, or its stem). */
  subset?: string;
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
  /** How the data set's classes were mapped onto the model's when they differ (cross-dataset). */
  classMapping?: { dataset: string[]; model: string[]; unmapped: Record<string, number> };
  subset?: { file: string; listed: number; found: number; missing: string[] };
  tta?: 'flip';
  /** Per image (sound protocol), in order: its id, true and predicted class, class probabilities (N × classes). */
  predictions: { ids: string[]; labels: number[]; predicted: Int32Array; probabilities: Float32Array; targets?: number[][] };
  /** Expected calibration error of top-1 confidence, 15 equal-width bins (`expectedCalibrationError`). */
  ece: number;
  /** Softmax temperature the model applies (fitted on validation; 1 = none), and the ECE without it. */
  temperature: number;
  eceBeforeScaling?: number;
  /** Per gender, race and age group (RAF-DB's manual annotations, when the data set has them). */
  fairness?: Fairness;
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
  if (!o.model === !o.baseline) throw new Error('evaluate: give a model or a baseline (one of them)');
  const model: Scorer = o.baseline
    ? await loadBaseline(o.baseline)
    : await ConvCutModel.load(o.model!, { precision: o.precision, device: o.device });
  const modelName = o.model ?? `baseline:${o.baseline}`;
  try {
    const ds = await openDataset(o.data, { ferplusMode: o.ferplusMode });
    const classes = model.classes;
    // Another data set's classes map onto the model's by name (a RAF-DB model on FERPlus: its
    // contempt images have no class to be right in, so they are left out and counted).
    const mapping = mapClasses(ds.classes, classes, o.data);
    const split = o.split ?? 'test';
    let samples = ds.samples.filter((s) => split === 'all' || s.split === split);
    const unmapped: Record<string, number> = {};
    samples = samples.flatMap((s) => {
      const label = mapping[s.label]!;
      if (label >= 0) return [{ ...s, label }];
      unmapped[ds.classes[s.label]!] = (unmapped[ds.classes[s.label]!] ?? 0) + 1;
      return [];
    });
    const subset = o.subset ? await readSubset(o.subset, samples) : undefined;
    if (subset) samples = subset.samples;
    if (!samples.length) throw new Error(`${o.data}: no images in the ${split} split${o.subset ? ` listed in ${o.subset}` : ''}`);
    const perImage = model.config.head.attention === 'batch';
    const bs = perImage ? 1 : Math.max(1, o.batchSize ?? DEFAULTS.evalBatch);
    const problems: Problem[] = [...ds.problems];
    const k = classes.length;
    const dim = model.config.head.hidden;

    /** Every image of `list` through the model, `batch` at a time (the reference protocol's batches of 32 included). */
    const run = async (list: Sample[], batch: number) => {
      const labels: number[] = [];
      const targets: (number[] | undefined)[] = [];
      const ids: string[] = [];
      const logits: number[] = [];
      const emb: number[] = [];
      const stream = imageStream(list, {
        size: model.config.inputSize,
        batchSize: batch,
        source: (s) => s.source,
        onSkip: (e) => problems.push(e.problem),
        onProgress: (n) => o.onProgress?.(n, list.length),
        run: async (x, _items, images) => {
          const out = await model.run(x);
          const l = o.tta === 'flip' ? await withFlip(out.logits.data, images) : out.logits.data;
          return { logits: l, embedding: out.embedding.data };
        },
      });
      for await (const { items, output } of stream) {
        logits.push(...output.logits);
        emb.push(...output.embedding);
        labels.push(...items.map((s) => s.label));
        ids.push(...items.map((s) => s.id));
        targets.push(...items.map((s) => s.target));
      }
      const all = Float32Array.from(logits);
      return { labels, ids, targets, logits: all, preds: argmaxRows(all, k), emb: Float32Array.from(emb) };
    };

    const sound = await run(samples, bs);
    const metrics = computeMetrics(sound.labels, sound.preds, classes);
    // The model's own probabilities: at its fitted temperature (1 when it has none).
    const temperature = model.config.head.temperature ?? 1;
    const probabilities = softmaxRows(sound.logits, k, temperature);
    const attributes = ds.format.startsWith('rafdb') ? await readRafAttributes(ds.root, sound.ids) : undefined;
    if (attributes) problems.push(...attributes.problems);
    let reference: Metrics | undefined;
    if (o.protocol === 'reference') {
      const ordered = [...samples].sort((a, b) => a.label - b.label);
      const r = await run(ordered, REFERENCE_BATCH);
      reference = computeMetrics(r.labels, r.preds, classes);
    }
    return {
      model: modelName,
      data: o.data,
      format: ds.format,
      classMapping: ds.classes.join() === classes.join() ? undefined : { dataset: ds.classes, model: classes, unmapped },
      subset: subset && { file: o.subset!, listed: subset.listed, found: samples.length, missing: subset.missing },
      tta: o.tta,
      split,
      classes,
      attention: model.config.head.attention,
      metrics,
      reference,
      embeddings: { data: sound.emb, dim, labels: sound.labels },
      predictions: {
        ids: sound.ids,
        labels: sound.labels,
        predicted: sound.preds,
        probabilities,
        // FERPlus soft modes: the vote distribution over the model's classes (mapped as the labels are).
        targets: sound.targets.some(Boolean) ? sound.targets.map((t) => remapTarget(t, mapping, k)) : undefined,
      },
      ece: expectedCalibrationError(probabilities, sound.labels, k),
      temperature,
      eceBeforeScaling: temperature === 1 ? undefined : expectedCalibrationError(softmaxRows(sound.logits, k), sound.labels, k),
      reliability: reliabilityBins(probabilities, sound.labels, k),
      fairness: attributes && fairness(sound.ids, sound.labels, sound.preds, classes, attributes.byId),
      intervals: bootstrapIntervals(sound.labels, sound.preds, classes, 0),
      problems: problems.filter(
        (p, i) => problems.findIndex((q) => q.file === p.file && q.line === p.line && q.message === p.message) === i,
      ),
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await model.dispose();
  }

  /** The logits whose softmax at the model's temperature is the mean of the image's and its mirror's probabilities. */
  async function withFlip(logits: Float32Array, images: DecodedImage[]): Promise<Float32Array> {
    const k = model.classes.length;
    const t = model.config.head.temperature ?? 1;
    const flipped = (await model.run(stackImages(images.map(hflip)))).logits.data;
    const a = softmaxRows(logits, k, t);
    const b = softmaxRows(flipped, k, t);
    return a.map((p, i) => Math.log((p + b[i]!) / 2) * t);
  }
}

/** A soft target over the data set's classes, moved onto the model's classes (unmapped mass dropped). */
function remapTarget(t: number[] | undefined, mapping: number[], k: number): number[] {
  const out = new Array<number>(k).fill(0);
  t?.forEach((v, c) => {
    if (mapping[c]! >= 0) out[mapping[c]!]! += v;
  });
  return out;
}

/** For each data set class, the model's class of the same name (case-insensitive), or -1. */
export function mapClasses(dataset: string[], model: string[], data: string): number[] {
  const index = new Map(model.map((c, i) => [c.toLowerCase(), i]));
  const map = dataset.map((c) => index.get(c.toLowerCase()) ?? -1);
  if (map.every((m) => m < 0))
    throw new Error(`${data}: none of its classes (${dataset.join(', ')}) is one of the model's (${model.join(', ')})`);
  return map;
}

/** The samples a subset list names (by id, file name or stem), and the names it lists that are not there. */
async function readSubset(file: string, samples: Sample[]): Promise<{ samples: Sample[]; listed: number; missing: string[] }> {
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`--subset ${file}: cannot read it (${e.code ?? e.message})`, { cause: e });
  });
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim().split(/[\s,]+/)[0]!)
    .filter((l) => l && !l.startsWith('#'));
  const keys = (id: string) => [id, path.basename(id), rafdbStem(id)];
  const wanted = new Set(names.flatMap((n) => keys(n)));
  const kept = samples.filter((s) => keys(s.id).some((k) => wanted.has(k)));
  const found = new Set(kept.flatMap((s) => keys(s.id)));
  return { samples: kept, listed: names.length, missing: names.filter((n) => !keys(n).some((k) => found.has(k))) };
}
