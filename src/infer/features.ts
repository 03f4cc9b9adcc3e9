/**
 * Cut-point features of images: the frozen backbone on ONNX Runtime (what training caches and what
 * `convcut features` writes).
 */
import type { ConvCutConfig } from '../model/config.js';
import { describeBackbone } from '../engine/describe.js';
import { exportOnnx } from '../engine/onnx-export.js';
import { createSession, runSession, type NamedArray, type SessionOptions } from '../engine/ort-session.js';
import type { Weights } from '../weights/weight-map.js';
import type * as ort from 'onnxruntime-node';

export class BackboneRunner {
  readonly featureShape: number[];
  private constructor(
    readonly config: ConvCutConfig,
    readonly session: ort.InferenceSession,
  ) {
    this.featureShape = describeBackbone(config).outputShape;
  }

  /** `weights` needs the backbone parameters only. */
  static async create(config: ConvCutConfig, weights: Weights, opts: SessionOptions = {}): Promise<BackboneRunner> {
    return new BackboneRunner(config, await createSession(exportOnnx(config, weights, { part: 'backbone' }), opts));
  }

  async run(batch: NamedArray): Promise<NamedArray> {
    return (await runSession(this.session, batch)).features!;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
