/**
 * The library's inference API: a Conv-cut model on ONNX Runtime.
 *
 *   const model = await loadModel('model.safetensors');   // a convcut checkpoint, or model.onnx
 *   const [p] = await model.predict(['face.jpg']);
 *   p.label, p.score, p.top  // 'happiness', 0.93, [{ label, score }, ...]
 *
 * Each image is processed independently (the default `token` attention never looks at other
 * images), so results do not depend on batch size. A `batch`-attention (reference) model is the
 * exception, and says so in `config.head.attention`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { checkModelConfig, type ConvCutConfig } from '../model/config.js';
import { exportOnnx, type Precision } from '../engine/onnx-export.js';
import { checkPrecision } from '../engine/device.js';
import { onnx } from '../engine/onnx-ops.js';
import { externalDataRefs } from '../engine/onnx-external.js';
import { createSession, runSession, type NamedArray, type SessionOptions } from '../engine/ort-session.js';
import type { PixelSource } from '../data/dataset.js';
import type { DecodedImage } from '../data/image.js';
import { imageStream } from './pipeline.js';
import { classifyLogits, type Prediction } from './classify.js';

export type { Prediction } from './classify.js';
import { isCheckpointFile, loadCheckpoint } from '../weights/checkpoint.js';
import { isSafetensors, openSafetensors } from '../weights/safetensors.js';
import { resolveModel } from '../weights/sources.js';
import { readFileHead } from '../util/file-head.js';
import { isSynthetic } from '../data/synthetic.js';
import { RUN_STATE_KEY } from '../train/run-state.js';
import type { Weights } from '../weights/weight-map.js';
import type * as ort from 'onnxruntime-node';
import { DEFAULTS } from '../defaults.js';

export type ImageInput = string | Uint8Array | PixelSource | DecodedImage;

export class ConvCutModel {
  private constructor(
    readonly config: ConvCutConfig,
    readonly session: ort.InferenceSession,
    /** Where it was loaded from (a local path: for the library and the CLI, never for a server's answers). */
    readonly id: string,
    /** The model as one self-contained fp32 ONNX file (made when first asked for). */
    private readonly exportable: () => Uint8Array,
    /** What to call it where others can read it (a server's answers): never a path of this machine. */
    readonly publicName: string = publicNameOf(id),
    /** How it was trained (seed, recipe, data, …), from its checkpoint or ONNX metadata. */
    readonly provenance: Record<string, unknown> = {},
  ) {}

  /**
   * One line to show wherever this model predicts, when what it learnt from matters to whoever
   * reads the predictions (a model trained on the demo's synthetic faces is no model of real people).
   */
  get notice(): string | undefined {
    return trainedOnSyntheticFaces(this.provenance)
      ? "this model was trained on convcut's synthetic faces (a demo): its labels for real photos mean little"
      : undefined;
  }

  private portable?: Uint8Array;
  /** The model as a self-contained fp32 ONNX file: what the web page downloads and runs in the browser. */
  portableOnnx(): Uint8Array {
    return (this.portable ??= this.exportable());
  }

  static async fromWeights(
    config: ConvCutConfig,
    weights: Weights,
    opts: SessionOptions & { id?: string; precision?: Precision } = {},
  ): Promise<ConvCutModel> {
    await checkPrecision(opts.precision, opts.device);
    const session = await createSession(exportOnnx(config, weights, { precision: opts.precision }), opts);
    return new ConvCutModel(config, session, opts.id ?? 'in-memory', () => exportOnnx(config, weights));
  }

  /**
   * Load a convcut checkpoint (.safetensors) or an ONNX model that convcut exported.
   * `precision: 'int8'` applies to checkpoints (an .onnx file runs as it was exported).
   */
  static async load(source: string, opts: SessionOptions & { precision?: Precision } = {}): Promise<ConvCutModel> {
    await checkPrecision(opts.precision, opts.device);
    const file = await resolveModel(source); // hf:…, a URL, or a path
    const publicName = publicNameOf(source);
    const isCheckpoint = await isCheckpointFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`${file}: cannot read model (${e.code ?? e.message})`);
    });
    if (isCheckpoint) {
      // Lazily read: the big float32 weights go to ONNX Runtime as external data straight from the
      // file, so they are never held in JS as well (peak memory, BENCHMARKS.md).
      const abs = await fs.realpath(file); // a Hub snapshot is a link into blobs/: ONNX Runtime wants the real folder
      const ck = await loadCheckpoint(abs, { lazy: true });
      const externalDir = path.dirname(abs);
      const graph = exportOnnx(ck.meta.config, ck.weights, { precision: opts.precision, externalDir });
      return new ConvCutModel(
        ck.meta.config,
        await createSession(graph, { ...opts, externalDir }),
        file,
        () => exportOnnx(ck.meta.config, ck.weights, { metadata: { provenance: ck.meta.provenance } }),
        publicName,
        ck.meta.provenance,
      );
    }
    // Not a checkpoint but a safetensors file (a training run's resumable state is the usual mix-up):
    // said from its header, without reading what may be gigabytes of state.
    const { head, size } = await readFileHead(file, 16);
    if (isSafetensors(head, size)) {
      const { metadata } = openSafetensors(file);
      if (metadata[RUN_STATE_KEY])
        throw new Error(
          `${file}: this is a training run's resumable state (for --resume), not a model; use ${path.join(path.dirname(file), 'best.safetensors')}`,
        );
      throw new Error(`${file}: a safetensors file, but not a convcut checkpoint (no "convcut" metadata)`);
    }
    const bytes = await fs.readFile(file);
    let config: ConvCutConfig;
    let provenance: Record<string, unknown>;
    try {
      const proto = onnx.ModelProto.decode(bytes);
      const external = externalDataRefs(proto);
      if (external.length)
        throw new Error(
          `it reads tensors from other files (${external.slice(0, 3).join(', ')}${external.length > 3 ? ', …' : ''}); a model file must hold all of its weights`,
        );
      const meta = proto.metadataProps?.find((p) => p.key === 'convcut')?.value;
      if (!meta) throw new Error('no "convcut" metadata');
      const parsed = JSON.parse(meta) as { config: ConvCutConfig; part: string; provenance?: Record<string, unknown> };
      if (parsed.part !== 'full') throw new Error(`it holds the ${parsed.part} only`);
      checkModelConfig(parsed.config);
      config = parsed.config;
      provenance = parsed.provenance ?? {};
    } catch (e) {
      throw new Error(`${file}: not a convcut checkpoint or full convcut ONNX model (${(e as Error).message})`, { cause: e });
    }
    const session = await createSession(bytes, opts).catch((e: Error) => {
      throw new Error(`${file}: ONNX Runtime cannot load this model (${e.message.split('\n')[0]})`, { cause: e });
    });
    return new ConvCutModel(config, session, file, () => bytes, publicName, provenance);
  }

  get classes(): string[] {
    return this.config.head.classes;
  }

  /** Raw outputs for an N×S×S×3 RGB 0..255 batch. */
  async run(batch: NamedArray): Promise<{ logits: NamedArray; embedding: NamedArray }> {
    const out = await runSession(this.session, batch);
    return { logits: out.logits!, embedding: out.embedding! };
  }

  /** Logits (N × classes) → predictions, at the model's fitted temperature. */
  classify(logits: Float32Array, topK: number = DEFAULTS.topK): Prediction[] {
    return classifyLogits(logits, this.classes, Math.min(topK, this.classes.length), this.config.head.temperature);
  }

  /** Images (files, bytes or decoded) → predictions; an unreadable image rejects with its name. */
  async predict(inputs: ImageInput[], opts: { topK?: number; batchSize?: number } = {}): Promise<Prediction[]> {
    const out: Prediction[] = [];
    const stream = imageStream(inputs, {
      size: this.config.inputSize,
      batchSize: opts.batchSize ?? DEFAULTS.inferenceBatch,
      run: (batch) => this.run(batch),
      onSkip: (e) => {
        throw e;
      },
    });
    for await (const b of stream) out.push(...this.classify(b.output.logits.data, opts.topK));
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * A model's name that reveals nothing of this machine: an `hf:` name as given, a URL without its
 * query or credentials, else the file's base name.
 */
export function publicNameOf(source: string): string {
  if (source.startsWith('hf:')) return source;
  if (/^https?:\/\//i.test(source)) {
    const u = new URL(source);
    return `${u.protocol}//${u.host}${u.pathname}`;
  }
  return path.basename(source);
}

/** Whether a model's provenance says it learnt from the synthetic generator's faces (its data folder's marker, recorded at training). */
function trainedOnSyntheticFaces(p: Record<string, unknown>): boolean {
  if (p.syntheticData === true) return true;
  const data = (p.settings as { data?: unknown } | undefined)?.data;
  return typeof data === 'string' && isSynthetic(data); // a checkpoint from before the field existed
}

export const loadModel = (file: string, opts?: SessionOptions & { precision?: Precision }): Promise<ConvCutModel> =>
  ConvCutModel.load(file, opts);
