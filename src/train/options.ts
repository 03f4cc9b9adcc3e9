/**
 * What `train()` takes, tells and returns, and the recipe and settings a run is defined by.
 */
import path from 'node:path';
import type { OpenOptions } from '../data/open-dataset.js';
import type { Problem } from '../data/dataset.js';
import type { SplitRecord } from '../data/split.js';
import type { DeviceChoice } from '../engine/device.js';
import type { AttentionMode, ConvCutConfig } from '../model/config.js';
import { isNamedSource } from '../weights/sources.js';
import { defaultRecipe, REFERENCE_RECIPE, type Recipe } from './recipes.js';
import { DEFAULTS } from '../defaults.js';

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
  /** cpu, webgpu or auto (default: `CONVCUT_DEVICE`, else cpu); results match the CPU's within float error. */
  device?: DeviceChoice;
  onEvent?: (e: TrainEvent) => void;
  /**
   * Stops the run after the step in progress (Ctrl-C in the CLI): the state is saved at that step,
   * so `resume` continues exactly there, and `train()` rejects with `TrainingHalted`.
   */
  signal?: AbortSignal;
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
  /** Temperature scaling fitted on validation after training (or why not). */
  calibration: import('./calibrate.js').Calibration;
  /** The data set's format (for the model card). */
  format: string;
  settings: RunSettings;
  config: ConvCutConfig;
  history: EpochRecord[];
  bestValAccuracy: number;
  split: SplitRecord;
  problems: Problem[];
  backboneImagesComputed: number;
}

/** The run stopped early (its `signal` fired); its state is saved for `resume`. */
export class TrainingHalted extends Error {
  override name = 'TrainingHalted';
}

export function recipeFor(o: TrainOptions): Recipe {
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
export function settingsOf(o: TrainOptions, recipe: Recipe) {
  return {
    data: path.resolve(o.data),
    recipe,
    backbone: o.backbone ?? 'base',
    weights: o.weights ? (isNamedSource(o.weights) ? o.weights : path.resolve(o.weights)) : null,
    cut: o.cut ?? null,
    inputSize: o.inputSize ?? DEFAULTS.inputSize,
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
export type RunSettings = ReturnType<typeof settingsOf>;
