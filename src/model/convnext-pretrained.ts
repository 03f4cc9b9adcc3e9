/**
 * Pretrained ImageNet ConvNeXt weights in the layouts users have (SPEC §4), mapped to convcut's
 * names (timm's) and channels-last layouts. Each mapper returns:
 * - `{ name, tensor }` for a backbone parameter,
 * - `'skip'` for a known ConvNeXt key convcut does not use (classifier head, Keras' built-in
 *   normalisation),
 * - `undefined` for a key that is not ConvNeXt at all (reported as unexpected).
 *
 * Beside convnext.ts on purpose, as timm keeps its checkpoint filter beside its model: what the
 * names mean is knowledge of this network, not of a file format.
 */
import type { WeightTensor } from '../weights/weight-map.js';
import { transposeData } from '../weights/weight-map.js';

export type Mapped = { name: string; tensor: WeightTensor } | 'skip' | undefined;

const OIHW_TO_HWIO = [2, 3, 1, 0];
/** (C, 1, kh, kw) → (kh, kw, C, 1). */
const DW_TO_HWC1 = [2, 3, 0, 1];
const OUT_IN_TO_IN_OUT = [1, 0];

const permute = (t: WeightTensor, perm: number[]) => transposeData(t.data, t.shape, perm);

/** timm `convnext_*` (safetensors): PyTorch layouts (OIHW convs, (out, in) linears). */
export function mapTimmKey(key: string, t: WeightTensor): Mapped {
  if (key.startsWith('head.') || key === 'norm_pre.weight' || key === 'norm_pre.bias') return 'skip';
  if (/^stem\.[01]\.(weight|bias)$/.test(key) || /^stages\.\d+\.downsample\.[01]\.(weight|bias)$/.test(key)) {
    const isConv = t.shape.length === 4;
    return { name: key, tensor: isConv ? permute(t, OIHW_TO_HWIO) : t };
  }
  const m = /^stages\.(\d+)\.blocks\.(\d+)\.(conv_dw\.(weight|bias)|norm\.(weight|bias)|mlp\.fc[12]\.(weight|bias)|gamma)$/.exec(
    key,
  );
  if (!m) return undefined;
  const leaf = m[3]!;
  if (leaf === 'conv_dw.weight') return { name: key, tensor: permute(t, DW_TO_HWC1) };
  if (/^mlp\.fc[12]\.weight$/.test(leaf)) return { name: key, tensor: permute(t, OUT_IN_TO_IN_OUT) };
  return { name: key, tensor: t };
}

const TV_STAGE: Record<string, number> = { '1': 0, '3': 1, '5': 2, '7': 3 };
const TV_DOWN: Record<string, number> = { '2': 1, '4': 2, '6': 3 };
const TV_BLOCK: Record<string, string> = { '0': 'conv_dw', '2': 'norm', '3': 'mlp.fc1', '5': 'mlp.fc2' };

/** torchvision `convnext_*` state dict: `features.{0..7}`, `classifier.*`. Renamed to timm, then mapped. */
export function mapTorchvisionKey(key: string, t: WeightTensor): Mapped {
  if (key.startsWith('classifier.')) return 'skip';
  const p = key.split('.');
  if (p[0] !== 'features') return undefined;
  if (p[1] === '0' && p.length === 4) return mapTimmKey(`stem.${p[2]}.${p[3]}`, t);
  if (TV_DOWN[p[1]!] !== undefined && p.length === 4) return mapTimmKey(`stages.${TV_DOWN[p[1]!]}.downsample.${p[2]}.${p[3]}`, t);
  const s = TV_STAGE[p[1]!];
  if (s === undefined) return undefined;
  if (p.length === 4 && p[3] === 'layer_scale') {
    return mapTimmKey(`stages.${s}.blocks.${p[2]}.gamma`, { shape: [t.shape[0]!], data: t.data });
  }
  if (p.length === 6 && p[3] === 'block' && TV_BLOCK[p[4]!]) {
    return mapTimmKey(`stages.${s}.blocks.${p[2]}.${TV_BLOCK[p[4]!]}.${p[5]}`, t);
  }
  return undefined;
}

const KERAS_VAR: Record<string, string> = { kernel: 'weight', gamma: 'weight', beta: 'bias', bias: 'bias' };

/**
 * Keras `convnext_<size>_notop.h5`: one weight as (layer name, weight name). Keras kernels are
 * already channels-last: Conv2D HWIO, Dense (in, out); the depthwise conv is a grouped Conv2D
 * with kernel (7, 7, 1, C), the same memory order as our (7, 7, C, 1).
 */
export function mapKerasWeight(layer: string, weightName: string, t: WeightTensor): Mapped {
  // 'convnext_base_stem/convnext_base_stem_conv/kernel:0' → sub-layer 'convnext_base_stem_conv', var 'kernel'
  const parts = weightName.replace(/:\d+$/, '').split('/');
  const variable = parts[parts.length - 1]!;
  const sublayer = parts.length > 1 ? parts[parts.length - 2]! : layer;
  // include_top=False appends an auto-named LayerNormalization after the last stage (Keras'
  // applications/convnext.py): after every cut, never used.
  if (/^layer_normalization(_\d+)?$/.test(layer)) return 'skip';
  const m = /^convnext_[a-z]+_(.*)$/.exec(layer);
  if (!m) return undefined;
  const rest = m[1]!;
  if (rest === 'prestem_normalization' || rest.startsWith('head')) return 'skip';
  if (rest === 'stem') {
    const idx = sublayer.endsWith('layernorm') ? 1 : 0;
    return { name: `stem.${idx}.${KERAS_VAR[variable] ?? variable}`, tensor: t };
  }
  const down = /^downsampling_block_(\d+)$/.exec(rest);
  if (down) {
    const idx = sublayer.includes('layernorm') ? 0 : 1;
    return { name: `stages.${Number(down[1]) + 1}.downsample.${idx}.${KERAS_VAR[variable] ?? variable}`, tensor: t };
  }
  const blk = /^stage_(\d+)_block_(\d+)_(depthwise_conv|layernorm|pointwise_conv_1|pointwise_conv_2|layer_scale)$/.exec(rest);
  if (!blk) return undefined;
  const p = `stages.${blk[1]}.blocks.${blk[2]}`;
  switch (blk[3]) {
    case 'depthwise_conv':
      return variable === 'kernel'
        ? { name: `${p}.conv_dw.weight`, tensor: { shape: [t.shape[0]!, t.shape[1]!, t.shape[3]!, 1], data: t.data } }
        : { name: `${p}.conv_dw.bias`, tensor: t };
    case 'layernorm':
      return { name: `${p}.norm.${KERAS_VAR[variable]}`, tensor: t };
    case 'pointwise_conv_1':
      return { name: `${p}.mlp.fc1.${KERAS_VAR[variable]}`, tensor: t };
    case 'pointwise_conv_2':
      return { name: `${p}.mlp.fc2.${KERAS_VAR[variable]}`, tensor: t };
    default:
      return { name: `${p}.gamma`, tensor: t };
  }
}
