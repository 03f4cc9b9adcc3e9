/**
 * Everything a training run needs before its first step, in the order `train()` does it:
 * the run (settings, saved state) → the data (split) → the model (weights, frozen prefix) → the
 * features (the frozen prefix's outputs, cached on disk, and the loader that reads them).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Augmenter, REFERENCE_AUGMENTATION } from '../data/augment.js';
import type { Problem, Sample } from '../data/dataset.js';
import { openDataset } from '../data/open-dataset.js';
import { applySplit, carveValidation, type SplitRecord } from '../data/split.js';
import { describeBackbone, paramSpecs } from '../engine/describe.js';
import { resolveDevice, type ResolvedDevice } from '../engine/device.js';
import { BackboneRunner } from '../infer/features.js';
import { makeConfig, type ConvCutConfig } from '../model/config.js';
import { convcutBackbone } from '../model/convcut.js';
import type { BackboneUnit } from '../model/convnext.js';
import { writeFileAtomic } from '../util/atomic.js';
import { hashWeights, sha256 } from '../util/hash.js';
import { deriveSeed } from '../util/rng.js';
import { loadPretrained } from '../weights/load-pretrained.js';
import { completeWeights, initWeights, type Weights } from '../weights/weight-map.js';
import { FeatureCache, type Variant } from './feature-cache.js';
import { FeatureLoader } from './feature-loader.js';
import { recipeFor, settingsOf, type RunSettings, type TrainEvent, type TrainOptions } from './options.js';
import type { Recipe } from './recipes.js';
import { RunStore, type RunState } from './run-state.js';

export interface Run {
  o: TrainOptions;
  recipe: Recipe;
  settings: RunSettings;
  settingsHash: string;
  seed: number;
  emit: (e: TrainEvent) => void;
  store: RunStore;
  /** Where ONNX Runtime trains (and computes the features). */
  device: ResolvedDevice;
  /** The saved state a `resume` continues from. */
  resumed?: RunState;
}

export async function openRun(o: TrainOptions): Promise<Run> {
  const emit = o.onEvent ?? (() => {});
  const recipe = recipeFor(o);
  const settings = settingsOf(o, recipe);
  const settingsHash = sha256(JSON.stringify(settings));
  const device = await resolveDevice(o.device); // before anything is written: a missing GPU is one line
  if (device.device !== 'cpu' || o.device === 'auto') emit({ kind: 'info', message: `device: ${device.reason}` });
  await fs.mkdir(o.out, { recursive: true });
  const store = new RunStore(path.join(o.out, 'state.safetensors'));
  const resumed = o.resume ? await store.load() : undefined;
  if (o.resume && !resumed) emit({ kind: 'info', message: `no saved state in ${o.out}: starting from the beginning` });
  if (resumed && resumed.meta.settingsHash !== settingsHash) {
    throw new Error(`${store.file}: the saved run used different settings; resume with the same options, or use a new --out`);
  }
  if (!o.resume && store.exists()) {
    throw new Error(`${o.out} already holds a run (state.safetensors): pass --resume to continue it, or choose another --out`);
  }
  return { o, recipe, settings, settingsHash, seed: settings.seed, emit, store, device, resumed };
}

export interface RunData {
  /** The data set's format, as its reader names it. */
  format: string;
  classes: string[];
  problems: Problem[];
  split: SplitRecord;
  train: Sample[];
  valid: Sample[];
}

export async function prepareData(run: Run): Promise<RunData> {
  const { o, recipe, seed, settings } = run;
  const ds = await openDataset(o.data, { ferplusMode: o.ferplusMode });
  let split: SplitRecord;
  let samples: Sample[];
  const splitPath = path.join(o.out, 'split.json');
  if (recipe.validation === 'test') {
    // The published code validates on the test set (SPEC §2, flaw 2). Reproduced on purpose.
    samples = ds.samples.map((s) => (s.split === 'valid' ? { ...s, split: 'train' as const } : s));
    split = { seed, fraction: 0, source: 'dataset', validIds: [] };
    run.emit({
      kind: 'info',
      message:
        'reference recipe: the TEST set is used as validation (early stopping, LR, checkpoint), as the published code does',
    });
  } else if (run.resumed && existsSync(splitPath)) {
    split = JSON.parse(await fs.readFile(splitPath, 'utf8')) as SplitRecord;
    samples = applySplit(ds, split);
  } else {
    ({ samples, record: split } = carveValidation(ds, settings.validFraction, seed));
  }
  await writeFileAtomic(splitPath, JSON.stringify(split, null, 1));
  const train = samples.filter((s) => s.split === 'train');
  const valid = samples.filter((s) => (recipe.validation === 'test' ? s.split === 'test' : s.split === 'valid'));
  if (!train.length) throw new Error(`${o.data}: no training images`);
  if (!valid.length) throw new Error(`${o.data}: no validation images (use a larger data set or --valid-fraction)`);
  return { format: ds.format, classes: ds.classes, problems: [...ds.problems], split, train, valid };
}

export interface RunModel {
  /** The network of the first phase (phases may change the head). */
  config: ConvCutConfig;
  /** Backbone units that train (the last ones); the others are the frozen prefix. */
  trainableUnits: number;
  prefix: BackboneUnit[];
  /** The frozen prefix's weights. */
  frozen: Weights;
  /** Initial weights of everything after the prefix: the trainable units and the head. */
  trainable: Weights;
}

export async function prepareModel(run: Run, data: RunData): Promise<RunModel> {
  const { o, recipe, settings, seed } = run;
  const config = makeConfig({
    backbone: settings.backbone,
    cut: o.cut,
    inputSize: settings.inputSize,
    head: {
      attention: recipe.attention,
      detailBlock: settings.detailBlock,
      detailFilters: settings.detailFilters,
      hidden: settings.hidden,
      classes: data.classes,
      ...recipe.phases[0]!.head,
    },
  });
  const units = convcutBackbone(config);
  const trainableUnits = settings.finetune === 'all' ? units.length - 1 : settings.finetune;
  if (trainableUnits < 0 || trainableUnits > units.length - 1)
    throw new Error(`--finetune must be 0..${units.length - 1} or all`);
  const prefix = units.slice(0, units.length - trainableUnits);
  const specs = describeBackbone(config).specs;
  let backbone: Weights;
  if (o.weights) {
    const pre = await loadPretrained(o.weights, specs, config.backbone.size);
    backbone = pre.weights;
    const where = pre.file === o.weights ? '' : ` → ${pre.file}`;
    run.emit({ kind: 'info', message: `backbone weights: ${o.weights}${where} (${pre.format})` });
  } else {
    backbone = initWeights(specs, deriveSeed(seed, 1));
    run.emit({
      kind: 'info',
      message: 'no --weights: the backbone starts from random weights (only sensible with --finetune all, as the demo does)',
    });
  }
  const prefixNames = new Set(describeBackbone(config, prefix).specs.map((s) => s.name));
  const frozen: Weights = new Map([...backbone].filter(([k]) => prefixNames.has(k)));
  const trainable = completeWeights(
    paramSpecs(config).filter((s) => !prefixNames.has(s.name)),
    new Map([...backbone].filter(([k]) => !prefixNames.has(k))),
    deriveSeed(seed, 3),
  );
  return { config, trainableUnits, prefix, frozen, trainable };
}

export interface RunFeatures {
  runner: BackboneRunner;
  cache: FeatureCache;
  loader: FeatureLoader;
  /** Random contrast (changes the backbone's input, so the prefix runs on every step). */
  contrast?: Augmenter;
  /** The samples whose images could be read. */
  train: Sample[];
  valid: Sample[];
  close(): Promise<void>;
}

/** The frozen prefix's outputs of every training image (and its flip) and validation image, cached. */
export async function prepareFeatures(run: Run, data: RunData, model: RunModel): Promise<RunFeatures> {
  const { o, recipe, settings, seed } = run;
  const runner = await BackboneRunner.create(model.config, model.frozen, {
    units: model.prefix,
    threads: o.threads,
    device: run.device.device,
  });
  const cacheDir = o.cacheDir ?? path.join(o.out, 'feature-cache');
  const { inputSize, normalisation } = model.config;
  const context = `${hashWeights(model.frozen)}|${model.prefix.map((u) => u.key).join(',')}|${inputSize}|${JSON.stringify(normalisation)}`;
  const cache = new FeatureCache(cacheDir, context, runner.featureShape);
  const contrast = settings.contrast ? new Augmenter({ ...REFERENCE_AUGMENTATION, flip: false }, deriveSeed(seed, 2)) : undefined;
  if (contrast) run.emit({ kind: 'info', message: 'random contrast: the backbone runs on every training step (slow)' });
  const toCache: [Sample[], Variant[]][] = [
    [contrast ? [] : data.train, ['orig', 'flip']],
    [data.valid, ['orig']],
  ];
  run.emit({ kind: 'cache-start', total: toCache.reduce((a, [s]) => a + s.length, 0) });
  const bad = new Set<string>();
  for (const [list, variants] of toCache) {
    const problems = await cache.ensure(list, variants, runner, 8, (n) => run.emit({ kind: 'cache-progress', n }));
    for (const x of problems) {
      data.problems.push(x);
      bad.add(x.file);
    }
  }
  run.emit({ kind: 'cache-done', computed: cache.computed, hits: cache.hits });
  const loader = new FeatureLoader(cache, recipe.batchSize);
  const usable = (s: Sample) => !bad.has(s.source.kind === 'file' ? s.source.path : s.source.origin);
  return {
    runner,
    cache,
    loader,
    contrast,
    train: data.train.filter(usable),
    valid: data.valid.filter(usable),
    close: async () => {
      await runner.dispose();
      await loader.close();
    },
  };
}
