/** Parameter lists, output shapes and compute of a configuration, via ShapeOps (no weights). */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone, convcutHead } from '../model/convcut.js';
import { runUnits } from '../model/convnext.js';
import type { ParamSpec } from '../model/ops.js';
import { countParams, ShapeOps } from './shape-ops.js';

export interface PartSummary {
  params: number;
  /** Multiply-accumulates per image. */
  macs: number;
  outputShape: number[];
}

export interface ModelSummary {
  backbone: PartSummary;
  head: PartSummary;
  full: PartSummary;
  specs: ParamSpec[];
  /** The parameters of the cut backbone (what pretrained ImageNet weights provide). */
  backboneSpecs: ParamSpec[];
}

export function describeConvCut(cfg: ConvCutConfig): ModelSummary {
  const ops = new ShapeOps();
  const features = runUnits(ops, [1, cfg.inputSize, cfg.inputSize, 3], convcutBackbone(cfg));
  const backbone: PartSummary = { params: countParams(ops.params.values()), macs: ops.macs, outputShape: features.slice(1) };
  const backboneSpecs = [...ops.params.values()];
  const before = { params: backbone.params, macs: ops.macs };
  const { logits } = convcutHead(ops, features, cfg);
  const total = countParams(ops.params.values());
  return {
    backbone,
    head: { params: total - before.params, macs: ops.macs - before.macs, outputShape: logits.slice(1) },
    full: { params: total, macs: ops.macs, outputShape: logits.slice(1) },
    specs: [...ops.params.values()],
    backboneSpecs,
  };
}

export function paramSpecs(cfg: ConvCutConfig): ParamSpec[] {
  return describeConvCut(cfg).specs;
}
