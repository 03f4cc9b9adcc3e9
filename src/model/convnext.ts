/**
 * ConvNeXt (Liu et al., "A ConvNet for the 2020s"), truncated at a cut point.
 *
 * Parameter names follow timm (`stem.0`, `stages.{s}.downsample.{0,1}`, `stages.{s}.blocks.{b}.*`)
 * so that the pretrained-weight mappings in src/weights/ stay short; layouts are channels-last.
 *
 * The backbone is a list of *units* (normalisation, stem, downsample, block) so that it can be run
 * whole (feature extraction, export) or in two parts: a frozen prefix on ONNX Runtime and a
 * trainable suffix on TensorFlow.js (fine-tuning the last blocks).
 */
import type { ConvNeXtConfig, CutPoint, Normalisation } from './config.js';
import { BLOCK_SUBLAYERS } from './config.js';
import type { Ops } from './ops.js';

const TRUNC_NORMAL = { kind: 'truncnormal', std: 0.02 } as const;

export interface BackboneUnit {
  /** `normalise`, `stem`, `stage_{s}_downsample`, or `stage_{s}_block_{b}`. */
  key: string;
  /** Parameter-name prefix owned by this unit ('' for the normalisation). */
  prefix: string;
  apply<T>(ops: Ops<T>, x: T): T;
}

/** ImageNet normalisation of 0..255 RGB, as Keras puts it inside the model: (x/255 - mean)/std. */
export function normaliseUnit(n: Normalisation): BackboneUnit {
  const mul = n.std.map((s) => 1 / (255 * s));
  const add = n.mean.map((m, i) => -m / n.std[i]!);
  return { key: 'normalise', prefix: '', apply: (ops, x) => ops.affine(x, mul, add) };
}

function stem(cfg: ConvNeXtConfig): BackboneUnit {
  return {
    key: 'stem',
    prefix: 'stem.',
    apply(ops, x) {
      const y = ops.conv2d(x, 'stem.0', { filters: cfg.dims[0], kernel: 4, stride: 4, padding: 'valid', init: TRUNC_NORMAL });
      return ops.layerNorm(y, 'stem.1', cfg.eps);
    },
  };
}

function downsample(cfg: ConvNeXtConfig, s: number): BackboneUnit {
  const p = `stages.${s}.downsample`;
  return {
    key: `stage_${s}_downsample`,
    prefix: `${p}.`,
    apply(ops, x) {
      const y = ops.layerNorm(x, `${p}.0`, cfg.eps);
      return ops.conv2d(y, `${p}.1`, { filters: cfg.dims[s]!, kernel: 2, stride: 2, padding: 'valid', init: TRUNC_NORMAL });
    },
  };
}

/**
 * One ConvNeXt block: depthwise 7×7 → LN → Linear C→4C → GELU (erf) → Linear 4C→C → layer scale →
 * residual add. `until` stops after the named sub-layer (the mid-block cut): the paper's cut keeps
 * `depthwise_conv` and `layernorm` of block 23 and nothing after, not even the residual.
 */
function block(cfg: ConvNeXtConfig, s: number, b: number, until: (typeof BLOCK_SUBLAYERS)[number]): BackboneUnit {
  const p = `stages.${s}.blocks.${b}`;
  const c = cfg.dims[s]!;
  const stop = BLOCK_SUBLAYERS.indexOf(until);
  return {
    key: `stage_${s}_block_${b}`,
    prefix: `${p}.`,
    apply(ops, x) {
      const steps: ((t: typeof x) => typeof x)[] = [
        (t) => ops.depthwiseConv2d(t, `${p}.conv_dw`, { kernel: 7, stride: 1, padding: 'same', init: TRUNC_NORMAL }),
        (t) => ops.layerNorm(t, `${p}.norm`, cfg.eps),
        (t) => ops.dense(t, `${p}.mlp.fc1`, 4 * c, { init: TRUNC_NORMAL, quantizable: true }),
        (t) => ops.gelu(t),
        (t) => ops.dense(t, `${p}.mlp.fc2`, c, { init: TRUNC_NORMAL, quantizable: true }),
        (t) => ops.scale(t, `${p}.gamma`, { kind: 'const', value: 1e-6 }),
        (t) => ops.add(x, t),
      ];
      let y = x;
      for (let i = 0; i <= stop; i++) y = steps[i]!(y);
      return y;
    },
  };
}

/** The units from the input image to the cut point, in order. */
export function backboneUnits(cfg: ConvNeXtConfig, cut: CutPoint, norm: Normalisation): BackboneUnit[] {
  const units: BackboneUnit[] = [normaliseUnit(norm), stem(cfg)];
  for (let s = 0; s <= cut.stage; s++) {
    if (s > 0) units.push(downsample(cfg, s));
    const last = s === cut.stage ? cut.block : cfg.depths[s]! - 1;
    for (let b = 0; b <= last; b++) {
      units.push(block(cfg, s, b, s === cut.stage && b === cut.block ? cut.sublayer : 'end'));
    }
  }
  return units;
}

export function runUnits<T>(ops: Ops<T>, x: T, units: BackboneUnit[]): T {
  let y = x;
  for (const u of units) y = u.apply(ops, y);
  return y;
}
