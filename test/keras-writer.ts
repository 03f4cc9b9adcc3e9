/**
 * Writes weights in the layout of Keras' `convnext_<size>_notop.h5` (legacy HDF5: layer_names /
 * weight_names attributes, nested stem and downsampling groups), as the tests' stand-in for the
 * real file, which cannot be downloaded here.
 */
import type { ConvNeXtConfig } from '../src/model/config.js';
import { writeKerasH5 } from '../src/weights/keras-h5.js';
import type { WeightTensor, Weights } from '../src/weights/weight-map.js';

export async function writeKerasConvNeXt(
  file: string,
  bb: ConvNeXtConfig,
  w: Weights,
  name = `convnext_${bb.size}`,
): Promise<void> {
  const get = (k: string): WeightTensor => {
    const t = w.get(k);
    if (!t) throw new Error(`missing ${k}`);
    return t;
  };
  const layers: { layer: string; weights: { name: string; tensor: WeightTensor }[] }[] = [
    { layer: 'input_1', weights: [] },
    {
      layer: `${name}_prestem_normalization`,
      weights: ['mean', 'variance'].map((v) => ({
        name: `${name}_prestem_normalization/${v}:0`,
        tensor: { shape: [3], data: new Float32Array(3).fill(0.5) },
      })),
    },
    {
      layer: `${name}_stem`,
      weights: [
        { name: `${name}_stem_conv/kernel:0`, tensor: get('stem.0.weight') },
        { name: `${name}_stem_conv/bias:0`, tensor: get('stem.0.bias') },
        { name: `${name}_stem_layernorm/gamma:0`, tensor: get('stem.1.weight') },
        { name: `${name}_stem_layernorm/beta:0`, tensor: get('stem.1.bias') },
      ],
    },
  ];
  for (let s = 0; s < 4; s++) {
    if (s > 0 && w.has(`stages.${s}.downsample.0.weight`)) {
      const p = `stages.${s}.downsample`;
      layers.push({
        layer: `${name}_downsampling_block_${s - 1}`,
        weights: [
          { name: `${name}_downsampling_layernorm_${s - 1}/gamma:0`, tensor: get(`${p}.0.weight`) },
          { name: `${name}_downsampling_layernorm_${s - 1}/beta:0`, tensor: get(`${p}.0.bias`) },
          { name: `${name}_downsampling_conv_${s - 1}/kernel:0`, tensor: get(`${p}.1.weight`) },
          { name: `${name}_downsampling_conv_${s - 1}/bias:0`, tensor: get(`${p}.1.bias`) },
        ],
      });
    }
    for (let b = 0; b < bb.depths[s]!; b++) {
      const p = `stages.${s}.blocks.${b}`;
      const l = `${name}_stage_${s}_block_${b}`;
      if (!w.has(`${p}.conv_dw.weight`)) continue;
      const dw = get(`${p}.conv_dw.weight`);
      const one = (layer: string, vars: [string, string][]) =>
        w.has(vars[0]![1]) &&
        layers.push({ layer, weights: vars.map(([v, k]) => ({ name: `${layer}/${v}:0`, tensor: get(k) })) });
      layers.push({
        layer: `${l}_depthwise_conv`,
        weights: [
          { name: `${l}_depthwise_conv/kernel:0`, tensor: { shape: [7, 7, 1, dw.shape[2]!], data: dw.data } },
          { name: `${l}_depthwise_conv/bias:0`, tensor: get(`${p}.conv_dw.bias`) },
        ],
      });
      one(`${l}_layernorm`, [
        ['gamma', `${p}.norm.weight`],
        ['beta', `${p}.norm.bias`],
      ]);
      one(`${l}_pointwise_conv_1`, [
        ['kernel', `${p}.mlp.fc1.weight`],
        ['bias', `${p}.mlp.fc1.bias`],
      ]);
      layers.push({ layer: `${l}_gelu`, weights: [] });
      one(`${l}_pointwise_conv_2`, [
        ['kernel', `${p}.mlp.fc2.weight`],
        ['bias', `${p}.mlp.fc2.bias`],
      ]);
      one(`${l}_layer_scale`, [['Variable', `${p}.gamma`]]);
    }
  }
  await writeKerasH5(file, layers);
}
