import { describe, expect, it } from 'vitest';
import { describeConvCut } from '../src/engine/describe.js';
import { backboneConfig, cutName, defaultCut, makeConfig, parseCut } from '../src/model/config.js';

describe('ConvNeXt configurations and the cut point', () => {
  it('the paper cut of ConvNeXt-Base has exactly 51,640,448 parameters and a 14×14×512 output', () => {
    const d = describeConvCut(makeConfig({ backbone: 'base' }));
    expect(d.backbone.params).toBe(51_640_448);
    expect(d.backbone.outputShape).toEqual([14, 14, 512]);
    expect(d.backbone.macs / 1e9).toBeCloseTo(12.35, 2);
  });

  it('the full (uncut) ConvNeXt-Base backbone has the published 87.6 M parameters minus its head', () => {
    // torchvision convnext_base: 88,591,464 params with the 1000-class head (final LN 2,048 + fc 1,025,000).
    const d = describeConvCut(makeConfig({ backbone: 'base', cut: 'stage_3' }));
    expect(d.backbone.params).toBe(88_591_464 - 2_048 - 1_025_000);
    expect(d.backbone.outputShape).toEqual([7, 7, 1024]);
  });

  it('accepts Keras layer names, with or without the convnext_<size>_ prefix', () => {
    const bb = backboneConfig('base');
    expect(parseCut('stage_2_block_23_layernorm', bb)).toEqual({ stage: 2, block: 23, sublayer: 'layernorm' });
    expect(parseCut('convnext_base_stage_2_block_23_layernorm', bb)).toEqual(defaultCut(bb));
    expect(parseCut('stage_1', bb)).toEqual({ stage: 1, block: 2, sublayer: 'end' });
    expect(parseCut('stage_2_block_4', bb)).toEqual({ stage: 2, block: 4, sublayer: 'end' });
    expect(cutName(defaultCut(bb))).toBe('stage_2_block_23_layernorm');
  });

  it('a mid-block cut keeps only the sub-layers before it', () => {
    const at = (cut: string) => describeConvCut(makeConfig({ backbone: 'base', cut })).backbone.params;
    const c = 512;
    expect(at('stage_2_block_23_depthwise_conv')).toBe(51_640_448 - 2 * c);
    expect(at('stage_2_block_23_pointwise_conv_1') - at('stage_2_block_23_layernorm')).toBe(c * 4 * c + 4 * c);
    // The whole block adds fc2 and the layer scale; the residual has no parameters.
    expect(at('stage_2_block_23') - at('stage_2_block_23_gelu')).toBe(4 * c * c + c + c);
  });

  it('rejects unknown sizes, blocks and sub-layers with a readable message', () => {
    const bb = backboneConfig('tiny');
    expect(() => backboneConfig('huge')).toThrow(/unknown backbone "huge".*tiny/);
    expect(() => parseCut('stage_2_block_9_layernorm', bb)).toThrow(/blocks 0..8/);
    expect(() => parseCut('stage_2_block_1_mlp', bb)).toThrow(/unknown sub-layer "mlp"/);
    expect(() => parseCut('layer4', bb)).toThrow(/cannot parse cut/);
    expect(() => describeConvCut(makeConfig({ backbone: 'test', inputSize: 64 }))).toThrow(
      /needs an input of at least 2 pixels, got 1/,
    );
  });
});
