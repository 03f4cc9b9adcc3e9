/**
 * Architecture configuration: ConvNeXt sizes, the cut point, and the Conv-cut head.
 *
 * Everything that decides the *shape* of the network lives here, and it is plain JSON so that a
 * checkpoint can carry it verbatim.
 */
import { DEFAULTS } from '../defaults.js';

export type BackboneSize = 'test' | 'mini' | 'tiny' | 'small' | 'base' | 'large' | 'xlarge';

export interface ConvNeXtConfig {
  size: BackboneSize;
  depths: [number, number, number, number];
  dims: [number, number, number, number];
  /** LayerNorm epsilon used everywhere in ConvNeXt (Keras and timm agree on 1e-6). */
  eps: number;
}

/**
 * The published ConvNeXt family (Liu et al. 2022), plus two small ones of ours: `test` (unit tests)
 * and `mini` (the offline demo, trained from scratch on synthetic faces).
 */
export const CONVNEXT_SIZES: Record<BackboneSize, ConvNeXtConfig> = {
  test: { size: 'test', depths: [1, 1, 5, 1], dims: [8, 16, 32, 64], eps: 1e-6 },
  mini: { size: 'mini', depths: [1, 1, 2, 1], dims: [24, 48, 96, 192], eps: 1e-6 },
  tiny: { size: 'tiny', depths: [3, 3, 9, 3], dims: [96, 192, 384, 768], eps: 1e-6 },
  small: { size: 'small', depths: [3, 3, 27, 3], dims: [96, 192, 384, 768], eps: 1e-6 },
  base: { size: 'base', depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024], eps: 1e-6 },
  large: { size: 'large', depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536], eps: 1e-6 },
  xlarge: { size: 'xlarge', depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048], eps: 1e-6 },
};

export function backboneConfig(size: string): ConvNeXtConfig {
  const cfg = CONVNEXT_SIZES[size as BackboneSize];
  if (!cfg) {
    throw new Error(`unknown backbone "${size}"; choose one of ${Object.keys(CONVNEXT_SIZES).join(', ')}`);
  }
  return structuredClone(cfg);
}

/**
 * The sub-layers of one ConvNeXt block, in execution order, named as Keras names them
 * (`convnext_base_stage_2_block_23_<sublayer>`). `end` is the whole block including the residual add.
 */
export const BLOCK_SUBLAYERS = [
  'depthwise_conv',
  'layernorm',
  'pointwise_conv_1',
  'gelu',
  'pointwise_conv_2',
  'layer_scale',
  'end',
] as const;
export type BlockSublayer = (typeof BLOCK_SUBLAYERS)[number];

/** Where the backbone stops: after `sublayer` of block `block` of stage `stage`. */
export interface CutPoint {
  stage: number;
  block: number;
  sublayer: BlockSublayer;
}

/**
 * The paper's cut for ConvNeXt-Base is `convnext_base_stage_2_block_23_layernorm`: the 24th of 27
 * stage-2 blocks, keeping only its depthwise conv and LayerNorm. For other sizes we keep the same
 * distance from the end of stage 2 (depth - 4), which is what "cut at the same place" means for a
 * stage of different depth.
 */
export function defaultCut(bb: ConvNeXtConfig): CutPoint {
  return { stage: 2, block: Math.max(0, bb.depths[2] - 4), sublayer: 'layernorm' };
}

/**
 * Parse a cut given Keras-style: `stage_2_block_23_layernorm`, optionally prefixed by
 * `convnext_<size>_`; `stage_2_block_23` (the whole block) or `stage_2` (the whole stage) also work.
 */
export function parseCut(text: string, bb: ConvNeXtConfig): CutPoint {
  const m = /^(?:convnext_[a-z]+_)?stage_(\d+)(?:_block_(\d+)(?:_([a-z_0-9]+))?)?$/.exec(text.trim());
  if (!m) {
    throw new Error(
      `cannot parse cut "${text}": expected a Keras layer name like stage_2_block_23_layernorm ` +
        `(sub-layers: ${BLOCK_SUBLAYERS.join(', ')})`,
    );
  }
  const stage = Number(m[1]);
  if (stage > 3) throw new Error(`cut "${text}": ConvNeXt has stages 0..3`);
  const depth = bb.depths[stage]!;
  const block = m[2] === undefined ? depth - 1 : Number(m[2]);
  if (block >= depth) {
    throw new Error(`cut "${text}": stage ${stage} of convnext_${bb.size} has blocks 0..${depth - 1}`);
  }
  const sub = (m[3] ?? 'end') as BlockSublayer;
  if (!BLOCK_SUBLAYERS.includes(sub)) {
    throw new Error(`cut "${text}": unknown sub-layer "${m[3]}" (one of ${BLOCK_SUBLAYERS.join(', ')})`);
  }
  return { stage, block, sublayer: sub };
}

export function cutName(cut: CutPoint): string {
  return `stage_${cut.stage}_block_${cut.block}${cut.sublayer === 'end' ? '' : `_${cut.sublayer}`}`;
}

/**
 * Attention modes (see src/model/attention.ts for why `token` is the default):
 * - `token`: per-image self-attention over the Detail Extraction Block's spatial tokens.
 * - `batch`: the published Keras `Attention()([x, x])` on (batch, 32) vectors: mixes images.
 * - `none`: no attention (ablation).
 */
export type AttentionMode = 'token' | 'batch' | 'none';

export interface HeadConfig {
  /** false = pool the cut features directly (the paper's ablation without DET). */
  detailBlock: boolean;
  /** Filters of both separable convs of the Detail Extraction Block. */
  detailFilters: number;
  /** LayerNorm after the Detail Extraction Block: present in the reference phase 1 only. */
  layerNorm: boolean;
  attention: AttentionMode;
  /** Dropout rate of SpatialDropout2D and both Dropouts (0.1 phase 1, 0.2 phase 2). */
  dropout: number;
  hidden: number;
  classes: string[];
  /**
   * Softmax temperature (logits / T), fitted on the validation split after training (temperature
   * scaling, eval/calibration.ts); absent or 1 = the raw softmax. Changes no prediction, only
   * how confident each one says it is.
   */
  temperature?: number;
}

export interface Normalisation {
  mean: [number, number, number];
  std: [number, number, number];
}

export const IMAGENET_NORMALISATION: Normalisation = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

export interface ConvCutConfig {
  backbone: ConvNeXtConfig;
  cut: CutPoint;
  inputSize: number;
  normalisation: Normalisation;
  head: HeadConfig;
}

export const RAFDB_CLASSES = ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise'];
export const FERPLUS_CLASSES = ['anger', 'contempt', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise'];

export interface ConvCutOptions {
  backbone?: string;
  cut?: string | CutPoint;
  inputSize?: number;
  head?: Partial<HeadConfig>;
}

export function makeConfig(opts: ConvCutOptions = {}): ConvCutConfig {
  const bb = backboneConfig(opts.backbone ?? 'base');
  const cut = opts.cut === undefined ? defaultCut(bb) : typeof opts.cut === 'string' ? parseCut(opts.cut, bb) : opts.cut;
  return {
    backbone: bb,
    cut,
    inputSize: opts.inputSize ?? DEFAULTS.inputSize,
    normalisation: structuredClone(IMAGENET_NORMALISATION),
    head: {
      detailBlock: true,
      detailFilters: 256,
      layerNorm: false,
      attention: 'token',
      dropout: 0.1,
      hidden: 32,
      classes: [...RAFDB_CLASSES],
      ...opts.head,
    },
  };
}

/** Longest class name a model may carry, and most classes (FER has 7–8; a bound for hostile files). */
export const MAX_CLASS_NAME = 64;
export const MAX_CLASSES = 1000;

/**
 * The parts of a config that a model file from a stranger could abuse, checked when it loads: class
 * names (they are shown in pages and reports; printable text of bounded length, each once), the
 * temperature and the input size (memory per image).
 */
export function checkModelConfig(c: ConvCutConfig): void {
  const classes: unknown = c?.head?.classes;
  if (!Array.isArray(classes) || classes.length < 2 || classes.length > MAX_CLASSES)
    throw new Error(`expected 2–${MAX_CLASSES} class names, got ${Array.isArray(classes) ? classes.length : typeof classes}`);
  classes.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || !name.length || name.length > MAX_CLASS_NAME)
      throw new Error(`class ${i}: a name must be text of 1–${MAX_CLASS_NAME} characters`);
    // \p{C}: control, format (bidi overrides, zero-width), unassigned and private-use characters.
    if (/\p{C}/u.test(name) || name.trim() !== name)
      throw new Error(
        `class ${i} (${JSON.stringify(name.slice(0, 20))}): only printable characters, no leading or trailing space`,
      );
  });
  if (new Set(classes).size !== classes.length) throw new Error('a class name appears twice');
  const t = c.head.temperature;
  if (t !== undefined && !(typeof t === 'number' && t > 0 && t < 1e3))
    throw new Error(`temperature ${String(t)} is not in (0, 1000)`);
  if (!Number.isInteger(c.inputSize) || c.inputSize < 16 || c.inputSize > 2048)
    throw new Error(`input size ${String(c.inputSize)} is not a whole number in 16–2048`);
}
