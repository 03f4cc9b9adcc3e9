/**
 * `convcut train` as a library call: data set + (optional) ImageNet backbone weights → a trained
 * Conv-cut checkpoint, chosen on validation only, with a JSONL log, a recorded split and seed, and
 * resumable state.
 *
 * Everything runs on ONNX Runtime: the frozen part of the backbone once per image (and flip), its
 * outputs cached on disk; the trainable part (head, plus the last backbone units when fine-tuning)
 * trains from the cache, one step-graph call per batch (ort-trainer.ts). Random contrast changes
 * the backbone's input, so with it the frozen part runs on every step (slow; flagged).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Augmenter, hflip, REFERENCE_AUGMENTATION } from '../data/augment.js';
import type { Problem, Sample } from '../data/dataset.js';
import { decodeMany, stackImages } from '../data/image.js';
import { openDataset, type OpenOptions } from '../data/open-dataset.js';
import { applySplit, carveValidation, type SplitRecord } from '../data/split.js';
import { describeBackbone, paramSpecs } from '../engine/describe.js';
import { computeMetrics, argmaxRows, type Metrics } from '../eval/metrics.js';
import { BackboneRunner } from '../infer/features.js';
import { makeConfig, type AttentionMode, type ConvCutConfig } from '../model/config.js';
import { convcutBackbone } from '../model/convcut.js';
import { writeFileAtomic } from '../util/atomic.js';
import { hashWeights, sha256 } from '../util/hash.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { saveCheckpoint } from '../weights/checkpoint.js';
import { loadPretrained } from '../weights/load-pretrained.js';
import { completeWeights, initWeights, type Weights } from '../weights/weight-map.js';
import { FeatureCache, type Variant } from './feature-cache.js';
import { FeatureLoader, type LoadedBatch } from './feature-loader.js';
import { defaultRecipe, REFERENCE_RECIPE, type Recipe } from './recipes.js';
import { loadRunState, saveRunState, type RunStateMeta } from './run-state.js';
import { balancedClassWeights, EarlyStopping, inverseTimeDecay, ReduceLROnPlateau } from './schedule.js';
import { OrtTrainer } from './ort-trainer.js';
import { defaultOrtThreads } from '../engine/ort-session.js';

export interface TrainOptions {
  data: string;
  out: string;
  recipe?: 'default' | 'reference';
  backbone?: string;
  /** ImageNet ConvNeXt weights (Keras h5, timm/torchvision safetensors). Without: random (demo). */
  weights?: string;
  cut?: string;
  inputSize?: number;
  attention?: AttentionMode;
  detailBlock?: boolean;
  detailFilters?: number;
  hidden?: number;
  /** Backbone units to train (0 = frozen backbone; 'all' = everything, from scratch without weights). */
  finetune?: number | 'all';
  /** Maximum epochs (default recipe), or the end epoch of each phase (reference: [100, 60]). */
  epochs?: number | number[];
  batchSize?: number;
  lr?: number;
  seed?: number;
  validFraction?: number;
  /** Early-stopping patience (epochs); the LR plateau patience is half of it. */
  patience?: number;
  contrast?: boolean;
  ferplusMode?: OpenOptions['ferplusMode'];
  cacheDir?: string;
  resume?: boolean;
  /** Save resumable state every this many steps (and at every epoch end). */
  saveEvery?: number;
  /** ONNX Runtime intra-op threads (default: every core, or CONVCUT_ORT_THREADS). */
  threads?: number;
  onEvent?: (e: TrainEvent) => void;
  /** Testing aid: stop abruptly after this many steps in this process, as if killed. */
  haltAfterSteps?: number;
}

export type TrainEvent =
  | { kind: 'info'; message: string }
  | { kind: 'cache-start'; total: number }
  | { kind: 'cache-progress'; n: number }
  | { kind: 'cache-done'; computed: number; hits: number }
  | { kind: 'epoch-start'; phase: string; epoch: number; steps: number; startStep: number; lr: number }
  | { kind: 'step'; phase: string; epoch: number; step: number; steps: number; loss: number; accuracy: number }
  | { kind: 'epoch-end'; record: EpochRecord };

export interface EpochRecord {
  phase: string;
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  val_accuracy: number;
  val_uar: number;
  seconds: number;
  improved: boolean;
}

export interface TrainResult {
  checkpoint: string;
  config: ConvCutConfig;
  history: EpochRecord[];
  bestValAccuracy: number;
  split: SplitRecord;
  problems: Problem[];
  backboneImagesComputed: number;
  halted: boolean;
}

/** Thrown by `haltAfterSteps`: the run stopped as if killed; its last saved state is on disk. */
export class TrainingHalted extends Error {}

function recipeFor(o: TrainOptions): Recipe {
  const r = structuredClone(o.recipe === 'reference' ? REFERENCE_RECIPE : defaultRecipe());
  const ends = o.epochs === undefined ? [] : Array.isArray(o.epochs) ? o.epochs : [o.epochs];
  if (ends.length > r.phases.length)
    throw new Error(`--epochs: the ${r.name} recipe has ${r.phases.length} phase(s), got ${ends.length} values`);
  ends.forEach((e, i) => (r.phases[i]!.endEpoch = e));
  if (o.batchSize) r.batchSize = o.batchSize;
  if (o.attention) r.attention = o.attention;
  if (o.lr) r.phases[0]!.lr = o.lr;
  if (o.patience) {
    const p0 = r.phases[0]!;
    p0.earlyStop.patience = o.patience;
    if (p0.schedule.kind === 'plateau') p0.schedule.patience = Math.max(1, Math.floor(o.patience / 2));
  }
  return r;
}

/** The settings that define a run; a resume must match them. */
function settingsOf(o: TrainOptions, recipe: Recipe) {
  return {
    data: path.resolve(o.data),
    recipe,
    backbone: o.backbone ?? 'base',
    weights: o.weights ? path.resolve(o.weights) : null,
    cut: o.cut ?? null,
    inputSize: o.inputSize ?? 224,
    detailBlock: o.detailBlock ?? true,
    detailFilters: o.detailFilters ?? 256,
    hidden: o.hidden ?? 32,
    finetune: o.finetune ?? 0,
    seed: o.seed ?? 0,
    validFraction: o.validFraction ?? 0.1,
    contrast: o.contrast ?? false,
    ferplusMode: o.ferplusMode ?? 'majority',
  };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const emit = o.onEvent ?? (() => {});
  const recipe = recipeFor(o);
  const settings = settingsOf(o, recipe);
  const settingsHash = sha256(JSON.stringify(settings));
  const seed = settings.seed;
  await fs.mkdir(o.out, { recursive: true });
  const statePath = path.join(o.out, 'state.safetensors');
  const resumeState = o.resume ? await loadRunState(statePath) : undefined;
  if (o.resume && !resumeState) emit({ kind: 'info', message: `no saved state in ${o.out}: starting from the beginning` });
  if (resumeState && resumeState.meta.settingsHash !== settingsHash) {
    throw new Error(`${statePath}: the saved run used different settings; resume with the same options, or use a new --out`);
  }
  if (!o.resume && existsSync(statePath)) {
    throw new Error(`${o.out} already holds a run (state.safetensors): pass --resume to continue it, or choose another --out`);
  }

  // ---- data and split
  const ds = await openDataset(o.data, { ferplusMode: o.ferplusMode });
  const problems: Problem[] = [...ds.problems];
  let split: SplitRecord;
  let samples: Sample[];
  const splitPath = path.join(o.out, 'split.json');
  if (recipe.validation === 'test') {
    // The published code validates on the test set (SPEC §2, flaw 2). Reproduced on purpose.
    samples = ds.samples.map((s) => (s.split === 'valid' ? { ...s, split: 'train' as const } : s));
    split = { seed, fraction: 0, source: 'dataset', validIds: [] };
    emit({
      kind: 'info',
      message:
        'reference recipe: the TEST set is used as validation (early stopping, LR, checkpoint), as the published code does',
    });
  } else if (resumeState && existsSync(splitPath)) {
    split = JSON.parse(await fs.readFile(splitPath, 'utf8')) as SplitRecord;
    samples = applySplit(ds, split);
  } else {
    ({ samples, record: split } = carveValidation(ds, settings.validFraction, seed));
  }
  await writeFileAtomic(splitPath, JSON.stringify(split, null, 1));
  const trainSamples = samples.filter((s) => s.split === 'train');
  const validSamples = samples.filter((s) => (recipe.validation === 'test' ? s.split === 'test' : s.split === 'valid'));
  if (!trainSamples.length) throw new Error(`${o.data}: no training images`);
  if (!validSamples.length) throw new Error(`${o.data}: no validation images (use a larger data set or --valid-fraction)`);

  // ---- model and weights
  const baseConfig = makeConfig({
    backbone: settings.backbone,
    cut: o.cut,
    inputSize: settings.inputSize,
    head: {
      attention: recipe.attention,
      detailBlock: settings.detailBlock,
      detailFilters: settings.detailFilters,
      hidden: settings.hidden,
      classes: ds.classes,
      ...recipe.phases[0]!.head,
    },
  });
  const units = convcutBackbone(baseConfig);
  const nTrainable = settings.finetune === 'all' ? units.length - 1 : settings.finetune;
  if (nTrainable < 0 || nTrainable > units.length - 1) throw new Error(`--finetune must be 0..${units.length - 1} or all`);
  const prefix = units.slice(0, units.length - nTrainable);
  const backboneSpecs = describeBackbone(baseConfig).specs;
  let backboneWeights: Weights;
  if (o.weights) {
    const pre = await loadPretrained(o.weights, backboneSpecs);
    backboneWeights = pre.weights;
    emit({ kind: 'info', message: `backbone weights: ${o.weights} (${pre.format})` });
  } else {
    backboneWeights = initWeights(backboneSpecs, deriveSeed(seed, 1));
    emit({
      kind: 'info',
      message: 'no --weights: the backbone starts from random weights (only sensible with --finetune all, as the demo does)',
    });
  }
  const prefixNames = new Set(describeBackbone(baseConfig, prefix).specs.map((s) => s.name));
  const frozen: Weights = new Map([...backboneWeights].filter(([k]) => prefixNames.has(k)));

  // ---- feature cache for the frozen prefix
  const runner = await BackboneRunner.create(baseConfig, frozen, { units: prefix, threads: o.threads });
  const cacheDir = o.cacheDir ?? path.join(o.out, 'feature-cache');
  const context = `${hashWeights(frozen)}|${prefix.map((u) => u.key).join(',')}|${baseConfig.inputSize}|${JSON.stringify(baseConfig.normalisation)}`;
  const cache = new FeatureCache(cacheDir, context, runner.featureShape);
  const contrast = settings.contrast ? new Augmenter({ ...REFERENCE_AUGMENTATION, flip: false }, deriveSeed(seed, 2)) : undefined;
  if (contrast) emit({ kind: 'info', message: 'random contrast: the backbone runs on every training step (slow)' });
  const toCache: [Sample[], Variant[]][] = [
    [contrast ? [] : trainSamples, ['orig', 'flip']],
    [validSamples, ['orig']],
  ];
  emit({ kind: 'cache-start', total: toCache.reduce((a, [s]) => a + s.length, 0) });
  const bad = new Set<string>();
  for (const [list, variants] of toCache) {
    const p = await cache.ensure(list, variants, runner, 8, (n) => emit({ kind: 'cache-progress', n }));
    for (const x of p) {
      problems.push(x);
      bad.add(x.file);
    }
  }
  emit({ kind: 'cache-done', computed: cache.computed, hits: cache.hits });
  const loader = new FeatureLoader(cache, recipe.batchSize);
  const usable = (s: Sample) => !bad.has(s.source.kind === 'file' ? s.source.path : s.source.origin);
  const train = trainSamples.filter(usable);
  const valid = validSamples.filter(usable);

  // ---- training
  // Trainable = everything after the frozen prefix: the last backbone units (if any) and the head.
  let trainable: Weights = completeWeights(
    paramSpecs(baseConfig).filter((s) => !prefixNames.has(s.name)),
    new Map([...backboneWeights].filter(([k]) => !prefixNames.has(k))),
    deriveSeed(seed, 3),
  );
  const history: EpochRecord[] = resumeState ? (resumeState.meta.history as unknown as EpochRecord[]) : [];
  let steps = 0;
  let halted = false;
  let bestVal = -Infinity;
  let config = baseConfig;
  const checkpoint = path.join(o.out, 'best.safetensors');
  const log = path.join(o.out, 'log.jsonl');
  const classWeightsAll = balancedClassWeights(
    train.map((s) => s.label),
    ds.classes.length,
  );

  const startPhase = resumeState?.meta.position.phase ?? 0;
  let epochStart = resumeState?.meta.position.epoch ?? 0;
  for (let pi = startPhase; pi < recipe.phases.length; pi++) {
    const phase = recipe.phases[pi]!;
    config = { ...baseConfig, head: { ...baseConfig.head, ...phase.head } };
    const phaseSpecs = new Set(paramSpecs(config).map((s) => s.name));
    const resuming = resumeState && pi === startPhase;
    if (resuming) trainable = resumeState.weights;
    // Phase changes may drop head layers (the reference's LayerNorm): keep what the new head has.
    trainable = new Map([...trainable].filter(([k]) => phaseSpecs.has(k)));
    const trainer = await OrtTrainer.create(config, trainable, {
      trainableBackboneUnits: nTrainable,
      learningRate: phase.lr,
      clipNorm: 3.0,
      classWeights: phase.classWeights ? classWeightsAll : undefined,
      threads: o.threads,
    });
    if (resuming && resumeState.optimizer.size) trainer.setOptimizerState(resumeState.optimizer);
    const early = new EarlyStopping(phase.earlyStop.patience, phase.earlyStop.minDelta);
    const plateau =
      phase.schedule.kind === 'plateau'
        ? new ReduceLROnPlateau(phase.schedule.factor, phase.schedule.patience, phase.schedule.minLr)
        : undefined;
    let lr = phase.lr;
    let bestWeights: Weights | undefined;
    let epochStats = { loss: 0, correct: 0, seen: 0 };
    let startStep = 0;
    bestVal = -Infinity;
    if (resuming) {
      const m = resumeState.meta;
      Object.assign(early, m.earlyStop);
      if (plateau && m.plateau) Object.assign(plateau, m.plateau);
      lr = m.lr;
      bestVal = m.bestVal;
      bestWeights = resumeState.best;
      epochStats = m.epochStats;
      startStep = m.position.step;
    }

    const saveState = async (epoch: number, step: number) => {
      const meta: RunStateMeta = {
        position: { phase: pi, epoch, step },
        lr,
        epochStats,
        earlyStop: { best: early.best, bestEpoch: early.bestEpoch, wait: early.wait },
        plateau: plateau ? { best: plateau.best, wait: plateau.wait } : undefined,
        bestVal,
        history: history as unknown as Record<string, unknown>[],
        settingsHash,
      };
      await saveRunState(statePath, {
        meta,
        weights: trainer.weights(),
        optimizer: trainer.optimizerState(),
        best: bestWeights,
      });
    };
    const fullWeights = (): Weights => new Map([...frozen, ...trainer.weights()]);

    const epochs = phase.endEpoch;
    let epoch = epochStart;
    for (; epoch < epochs; epoch++) {
      const t0 = Date.now();
      if (phase.schedule.kind === 'inverse-time') lr = inverseTimeDecay(phase.lr, epoch, phase.schedule.decayEpochs);
      trainer.learningRate = lr;
      const order = new Rng(deriveSeed(seed, pi, epoch)).shuffle([...train.keys()]);
      const nSteps = Math.ceil(order.length / recipe.batchSize);
      emit({ kind: 'epoch-start', phase: phase.name, epoch, steps: nSteps, startStep, lr });
      const stepBatch = (step: number) => {
        const ids = order.slice(step * recipe.batchSize, (step + 1) * recipe.batchSize);
        const stepRng = new Rng(deriveSeed(seed, pi, epoch, step, 7));
        const batch = ids.map((i) => train[i]!);
        return { batch, variants: batch.map((): Variant => (stepRng.next() < 0.5 ? 'flip' : 'orig')) };
      };
      // The next batch is read (worker thread) while this step trains.
      const fetch = (step: number) => {
        const { batch, variants } = stepBatch(step);
        const loaded = contrast ? liveInputs(batch, variants, runner, contrast) : loader.load(batch, variants);
        loaded.catch(() => undefined); // a failure surfaces when this batch is awaited
        return { batch, loaded };
      };
      let next = startStep < nSteps ? fetch(startStep) : undefined;
      for (let step = startStep; step < nSteps; step++) {
        const { batch } = next!;
        const loaded = await next!.loaded;
        next = step + 1 < nSteps ? fetch(step + 1) : undefined;
        const labels = Int32Array.from(batch.map((s) => s.label));
        const soft = batch.every((s) => s.target) ? batch.map((s) => Float32Array.from(s.target!)) : undefined;
        const r = await trainer.step(loaded, soft ?? labels, deriveSeed(seed, pi, epoch, step)).finally(() => loaded.release());
        epochStats.loss += r.loss * batch.length;
        epochStats.correct += r.correct;
        epochStats.seen += batch.length;
        emit({
          kind: 'step',
          phase: phase.name,
          epoch,
          step,
          steps: nSteps,
          loss: epochStats.loss / epochStats.seen,
          accuracy: epochStats.correct / epochStats.seen,
        });
        steps++;
        if (o.saveEvery && (step + 1) % o.saveEvery === 0 && step + 1 < nSteps) await saveState(epoch, step + 1);
        if (o.haltAfterSteps && steps >= o.haltAfterSteps) {
          halted = true;
          break;
        }
      }
      // A batch read ahead past a halt is dropped (and must not outlive the backbone session).
      await next?.loaded.then(
        (b) => b.release(),
        () => undefined,
      );
      if (halted) break;
      startStep = 0;
      // ---- validation (never the test set, except in the reference recipe, which says so)
      const val = await evaluateFeatures(
        trainer,
        valid,
        cache,
        recipe.validationBatches === 'class-ordered' ? 'class-ordered' : config.head.attention === 'batch' ? 1 : 64,
        ds.classes,
        loader,
      );
      const accuracy = epochStats.correct / epochStats.seen;
      const monitor = phase.earlyStop.monitor === 'accuracy' ? accuracy : val.accuracy;
      const improvedVal = val.accuracy > bestVal;
      if (improvedVal) {
        bestVal = val.accuracy;
        await saveCheckpoint(checkpoint, config, fullWeights(), {
          recipe: recipe.name,
          phase: phase.name,
          epoch,
          seed,
          valAccuracy: val.accuracy,
          validation:
            recipe.validation === 'test' ? 'TEST SET (reference recipe)' : `carved split (${split.source}, seed ${seed})`,
          settings,
        });
      }
      const es = early.update(monitor, epoch);
      if (es.improved && phase.earlyStop.restoreBest) bestWeights = trainer.weights();
      if (plateau) lr = plateau.update(monitor, lr);
      const record: EpochRecord = {
        phase: phase.name,
        epoch,
        lr: trainer.learningRate,
        loss: epochStats.loss / epochStats.seen,
        accuracy,
        val_accuracy: val.accuracy,
        val_uar: val.uar,
        seconds: (Date.now() - t0) / 1000,
        improved: improvedVal,
      };
      history.push(record);
      await fs.appendFile(log, JSON.stringify(record) + '\n');
      emit({ kind: 'epoch-end', record });
      epochStats = { loss: 0, correct: 0, seen: 0 };
      if (es.stop) {
        epoch++;
        break;
      }
      await saveState(epoch + 1, 0);
    }
    if (halted) {
      await trainer.dispose();
      break;
    }
    if (phase.earlyStop.restoreBest && bestWeights) trainer.setWeights(bestWeights);
    trainable = trainer.weights();
    // Keras' initial_epoch for the next phase: from the best epoch of this one.
    epochStart = phase.earlyStop.restoreBest && early.bestEpoch >= 0 ? early.bestEpoch + 1 : epoch;
    await trainer.dispose();
    if (pi + 1 < recipe.phases.length) {
      // Position the saved state at the next phase, so a resume starts it fresh.
      await saveRunState(statePath, {
        meta: {
          position: { phase: pi + 1, epoch: epochStart, step: 0 },
          lr: recipe.phases[pi + 1]!.lr,
          epochStats: { loss: 0, correct: 0, seen: 0 },
          earlyStop: { best: -Infinity, bestEpoch: -1, wait: 0 },
          bestVal: -Infinity,
          history: history as unknown as Record<string, unknown>[],
          settingsHash,
        },
        weights: trainable, // the next phase keeps what its head has
        optimizer: new Map(),
      });
    }
  }
  await runner.dispose();
  await loader.close();
  if (halted) throw new TrainingHalted(`halted after ${steps} steps (state in ${statePath})`);
  if (!existsSync(checkpoint)) throw new Error('training ended without a checkpoint (no epoch completed)');
  await writeFileAtomic(
    path.join(o.out, 'run.json'),
    JSON.stringify(
      {
        settings,
        split: { source: split.source, seed: split.seed, fraction: split.fraction, valid: split.validIds.length },
        // How it ran (the results do not depend on the thread count: test/ort-training.test.ts).
        engine: { training: 'onnxruntime-node (cpu)', threads: o.threads ?? defaultOrtThreads() },
        history,
        problems,
      },
      null,
      1,
    ),
  );
  return {
    checkpoint,
    config,
    history,
    bestValAccuracy: Math.max(...history.map((h) => h.val_accuracy)),
    split,
    problems,
    backboneImagesComputed: cache.computed,
    halted,
  };
}

/** A training batch through the backbone on the spot (random contrast changes every image). */
async function liveInputs(batch: Sample[], variants: Variant[], runner: BackboneRunner, aug: Augmenter): Promise<LoadedBatch> {
  const decoded = await decodeMany(
    batch.map((s) => s.source),
    runner.config.inputSize,
  );
  const imgs = decoded.map((d, i) => {
    if (!d.ok) throw d.error;
    return aug.apply(variants[i] === 'flip' ? hflip(d.image) : d.image);
  });
  const data = (await runner.run(stackImages(imgs))).data;
  return { data, shape: [batch.length, ...runner.featureShape], release: () => undefined };
}

/**
 * Accuracy of the trainable part on cached features. `batching`: a batch size (results do not depend
 * on it for per-image models) or 'class-ordered' (the reference: samples sorted by class, batches of
 * 16, which leaks labels through batch attention).
 */
export async function evaluateFeatures(
  trainer: OrtTrainer,
  samples: Sample[],
  cache: FeatureCache,
  batching: number | 'class-ordered',
  classes: string[],
  /** Reads the next batch on a worker thread while this one runs (batches then hold ≤ its maxBatch). */
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
