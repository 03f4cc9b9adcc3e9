/** Parameter lists, output shapes and compute of a configuration, via ShapeOps (no weights). */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone, convcutHead } from '../model/convcut.js';
import { runUnits, type BackboneUnit } from '../model/convnext.js';
import type { ParamSpec } from '../model/ops.js';
import { countParams, ShapeOps } from './shape-ops.js';

export interface PartSummary {
  params: number;
  /** Multiply-accumulates per image. */
  macs: number;
  outputShape: number[];
  specs: ParamSpec[];
}

export interface ModelSummary {
  /** The cut backbone (what pretrained ImageNet weights provide). */
  backbone: PartSummary;
  head: PartSummary;
  full: PartSummary;
}

function summarise(
  ops: ShapeOps,
  out: number[],
  since: { params: number; macs: number; specs: number } = { params: 0, macs: 0, specs: 0 },
): PartSummary {
  const specs = [...ops.params.values()];
  return {
    params: countParams(specs) - since.params,
    macs: ops.macs - since.macs,
    outputShape: out.slice(1),
    specs: specs.slice(since.specs),
  };
}

/** The cut backbone alone: needs no head to fit (any cut, any input size the backbone accepts). */
export function describeBackbone(cfg: ConvCutConfig, units: BackboneUnit[] = convcutBackbone(cfg)): PartSummary {
  const ops = new ShapeOps();
  return summarise(ops, runUnits(ops, [1, cfg.inputSize, cfg.inputSize, 3], units));
}

export function describeConvCut(cfg: ConvCutConfig): ModelSummary {
  const ops = new ShapeOps();
  const features = runUnits(ops, [1, cfg.inputSize, cfg.inputSize, 3], convcutBackbone(cfg));
  const backbone = summarise(ops, features);
  const { logits } = convcutHead(ops, features, cfg);
  const head = summarise(ops, logits, { params: backbone.params, macs: backbone.macs, specs: backbone.specs.length });
  return { backbone, head, full: summarise(ops, logits) };
}

export function paramSpecs(cfg: ConvCutConfig): ParamSpec[] {
  return describeConvCut(cfg).full.specs;
}
