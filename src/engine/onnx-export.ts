/**
 * Write the Conv-cut network (or its backbone, or its head) as an ONNX model, by running the one
 * model definition through `OnnxOps`.
 */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone, convcutHead } from '../model/convcut.js';
import { runUnits, type BackboneUnit } from '../model/convnext.js';
import type { Weights } from '../weights/weight-map.js';
import { describeBackbone } from './describe.js';
import { toFloat16 } from './onnx-fp16.js';
import { OnnxOps, type OnnxTensor } from './onnx-ops.js';

/**
 * - `full`: images (N, S, S, 3) RGB 0..255 → logits, embedding (and features if asked).
 * - `backbone`: images → features at the cut (N, h, w, c).
 * - `head`: features → logits, embedding.
 */
export type GraphPart = 'full' | 'backbone' | 'head';

export const PRECISIONS = ['fp32', 'int8', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface ExportOptions {
  part?: GraphPart;
  /** `backbone` only: run these units instead of the whole cut backbone (a frozen prefix). */
  units?: BackboneUnit[];
  /** Also output the cut features from a `full` graph. */
  withFeatures?: boolean;
  /** `int8`: weight-quantised backbone MatMuls (see OnnxOps); `fp16`: computed in half precision (onnx-fp16.ts). */
  precision?: Precision;
  /**
   * Reference float32 weights that lie in a file in this directory as external data instead of
   * copying them (see OnnxOps); for in-process sessions only — a written .onnx file must not use it.
   */
  externalDir?: string;
  /** Stored in the model's metadata (key `convcut`). */
  metadata?: Record<string, unknown>;
}

export function exportOnnx(cfg: ConvCutConfig, weights: Weights, opts: ExportOptions = {}): Uint8Array {
  const part = opts.part ?? 'full';
  const fp16 = opts.precision === 'fp16';
  // fp16 weights are converted here, so they cannot stay in the checkpoint file as external data.
  const ops = new OnnxOps(weights, {
    precision: opts.precision === 'int8' ? 'int8' : 'fp32',
    externalDir: fp16 ? undefined : opts.externalDir,
  });
  const s = cfg.inputSize;
  const featureShape = [-1, ...describeBackbone(cfg).outputShape];
  const inputShape = part === 'head' ? featureShape : [-1, s, s, 3];
  const inputName = part === 'head' ? 'features' : 'images';
  const input: OnnxTensor = { ...ops.g.input(inputName, inputShape), layout: 'nhwc' };
  if (opts.units && part !== 'backbone') throw new Error('units can only be given for a backbone graph');
  const features = part === 'head' ? input : runUnits(ops, input, opts.units ?? convcutBackbone(cfg));
  if (part === 'backbone' || (part === 'full' && opts.withFeatures)) ops.output(features, 'features');
  if (part !== 'backbone') {
    const { embedding, logits } = convcutHead(ops, features, cfg);
    ops.output(logits, 'logits');
    ops.output(embedding, 'embedding');
  }
  if (fp16) toFloat16(ops.g);
  const meta = { config: cfg, part, precision: opts.precision ?? 'fp32', ...opts.metadata };
  return ops.g.encode(`convcut_${part}`, { convcut: JSON.stringify(meta) });
}

/**
 * Any network of src/model/ written against `Ops` as an ONNX graph: one NHWC float32 input
 * (`inputShape`, batch −1) and the named outputs `network` returns. The face networks are built
 * this way (face-ssd.ts, face-tiny.ts, face-features.ts, tfjs-graph.ts), by the same recorder as Conv-cut.
 */
export function exportNetwork(
  name: string,
  weights: Weights,
  inputShape: number[],
  network: (ops: OnnxOps, input: OnnxTensor) => Record<string, OnnxTensor>,
  metadata: Record<string, unknown> = {},
): Uint8Array {
  const ops = new OnnxOps(weights);
  const input: OnnxTensor = { ...ops.g.input('images', inputShape), layout: 'nhwc' };
  for (const [k, v] of Object.entries(network(ops, input))) ops.output(v, k);
  return ops.g.encode(name, { convcut: JSON.stringify({ part: name, ...metadata }) });
}
