/**
 * Cut-point features of images: the frozen backbone on ONNX Runtime (what training caches and what
 * `convcut features` writes).
 */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone } from '../model/convcut.js';
import type { BackboneUnit } from '../model/convnext.js';
import { describeBackbone } from '../engine/describe.js';
import { exportOnnx, type Precision } from '../engine/onnx-export.js';
import { checkPrecision } from '../engine/device.js';
import { createSession, runSession, type NamedArray, type SessionOptions } from '../engine/ort-session.js';
import type { Weights } from '../weights/weight-map.js';
import type * as ort from 'onnxruntime-node';

export class BackboneRunner {
  readonly featureShape: number[];
  private constructor(
    readonly config: ConvCutConfig,
    readonly session: ort.InferenceSession,
    units: BackboneUnit[],
  ) {
    this.featureShape = describeBackbone(config, units).outputShape;
  }

  /**
   * `weights` needs the backbone parameters only. `units` (default: the whole cut backbone) runs
   * a prefix instead: the frozen part when the last blocks are fine-tuned.
   */
  static async create(
    config: ConvCutConfig,
    weights: Weights,
    opts: SessionOptions & { units?: BackboneUnit[]; precision?: Precision } = {},
  ): Promise<BackboneRunner> {
    await checkPrecision(opts.precision, opts.device);
    const units = opts.units ?? convcutBackbone(config);
    const bytes = exportOnnx(config, weights, { part: 'backbone', units, precision: opts.precision });
    return new BackboneRunner(config, await createSession(bytes, opts), units);
  }

  async run(batch: NamedArray): Promise<NamedArray> {
    return (await runSession(this.session, batch)).features!;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
