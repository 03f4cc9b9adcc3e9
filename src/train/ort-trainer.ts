/**
 * Gradient steps on ONNX Runtime for the trainable part of Conv-cut: the head, optionally with the
 * last backbone units (fine-tuning). Inputs are the activations where the trainable part begins:
 * cut features when the backbone is frozen (computed once and cached), or the output of the frozen
 * backbone prefix when fine-tuning.
 *
 * One session per phase runs the whole step (engine/train-graph.ts: forward, loss, gradients, Keras'
 * Adam with global-norm clipping); a second one, created with it, runs inference for validation.
 * The trainable state (parameters, Adam moments, BatchNorm statistics) lives on the device that
 * trains: on the CPU as Float32Arrays, fed to each step without a copy and replaced by the step's
 * outputs; on WebGPU as GPU buffers that each step's outputs replace, so only the batch goes up and
 * the loss comes down. `weights()` and `optimizerState()` bring it to the host when asked.
 */
import type { ConvCutConfig } from '../model/config.js';
import type { BackboneUnit } from '../model/convnext.js';
import { resolveDevice, type DeviceChoice, type ResolvedDevice } from '../engine/device.js';
import { createSession, ort } from '../engine/ort-session.js';
import { buildCopyGraph, buildEvalGraph, buildStepGraph, trainablePart, type StepGraph } from '../engine/train-graph.js';
import type { MaskSpec } from '../engine/onnx-ops.js';
import { Rng } from '../util/rng.js';
import type { Weights } from '../weights/weight-map.js';
import { adamStepSize, KERAS_ADAM, type AdamSettings } from './adam.js';

export interface TrainerOptions {
  /** How many backbone units (blocks, counting a partial cut block as one) to train. 0 = frozen. */
  trainableBackboneUnits?: number;
  learningRate?: number;
  clipNorm?: number;
  seed?: number;
  /** Per-class loss weights (length = classes), e.g. balanced weights in the reference phase 1. */
  classWeights?: number[];
  /** ONNX Runtime intra-op threads (default: ort-session.ts's). */
  threads?: number;
  /** Also output every gradient (`StepResult.grads`): for tests. */
  exposeGrads?: boolean;
  /** cpu, webgpu or auto (engine/device.ts; default: `CONVCUT_DEVICE`, else cpu). */
  device?: DeviceChoice;
}

export interface StepResult {
  loss: number;
  /** Correct top-1 predictions in the batch. */
  correct: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  grads?: Weights;
}

export interface Batch {
  data: Float32Array;
  /** (N, ...one sample's input shape). */
  shape: number[];
}

type Session = Awaited<ReturnType<typeof createSession>>;

export class OrtTrainer {
  readonly trainableUnits: BackboneUnit[];
  readonly inputShape: number[];
  learningRate: number;
  /** Adam's step count (t in its bias correction). */
  iterations = 0;
  private steps = 0;
  /** The state on the host; on WebGPU a copy, current only when `hostCurrent`. */
  private readonly state = new Map<string, Float32Array>();
  /** The step's second set of state buffers (see `step`; CPU only). */
  private readonly spare = new Map<string, Float32Array>();
  /** On WebGPU: the state in GPU memory, as the last step left it. */
  private readonly onDevice = new Map<string, ort.Tensor>();
  private hostCurrent = true;
  private copySession?: Session;
  private readonly shapes = new Map<string, number[]>();
  /** State the step graph outputs a new value of: parameters, moments, running statistics. */
  private readonly stateOutputs: string[];

  private constructor(
    readonly config: ConvCutConfig,
    private readonly graph: StepGraph,
    private readonly stepSession: Session,
    private readonly evalSession: Session,
    weights: Weights,
    units: BackboneUnit[],
    inputShape: number[],
    private readonly opts: TrainerOptions,
    private readonly classWeights: Float32Array,
    readonly device: ResolvedDevice,
  ) {
    this.trainableUnits = units;
    this.inputShape = inputShape;
    this.learningRate = opts.learningRate ?? 1e-3;
    for (const [name, w] of weights) {
      this.state.set(name, Float32Array.from(w.data));
      this.shapes.set(name, [...w.shape]);
    }
    this.stateOutputs = stateNames(graph);
    for (const name of graph.params) {
      const n = this.state.get(name)!.length;
      this.state.set(`m/${name}`, new Float32Array(n));
      this.state.set(`v/${name}`, new Float32Array(n));
      this.shapes.set(`m/${name}`, this.shapes.get(name)!);
      this.shapes.set(`v/${name}`, this.shapes.get(name)!);
    }
  }

  /**
   * `weights` may hold the whole network; only the trainable part (the head and the last
   * `trainableBackboneUnits` units) is kept.
   */
  static async create(config: ConvCutConfig, weights: Weights, opts: TrainerOptions = {}): Promise<OrtTrainer> {
    const classes = config.head.classes.length;
    const cw = Float32Array.from(opts.classWeights ?? Array<number>(classes).fill(1));
    if (cw.length !== classes) throw new Error(`class weights: ${cw.length} values for ${classes} classes`);
    const { units, weights: used, inputShape } = trainablePart(config, weights, opts.trainableBackboneUnits ?? 0);
    const adam: AdamSettings = { ...KERAS_ADAM, clipNorm: opts.clipNorm ?? KERAS_ADAM.clipNorm };
    const graph = buildStepGraph(config, used, { units, inputShape, adam, exposeGrads: opts.exposeGrads });
    const device = await resolveDevice(opts.device);
    const sessionOpts = { threads: opts.threads, memPattern: false, device: device.device };
    const [stepSession, evalSession] = await Promise.all([
      createSession(graph.bytes, { ...sessionOpts, gpuOutputs: stateNames(graph).map((n) => `new/${n}`) }),
      createSession(buildEvalGraph(config, used, { units, inputShape }), sessionOpts),
    ]);
    try {
      return new OrtTrainer(config, graph, stepSession, evalSession, used, units, inputShape, opts, cw, device);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      const params = graph.params.reduce((a, p) => a + used.get(p)!.data.length, 0);
      throw new Error(
        `not enough memory for the training state (${(params / 1e6).toFixed(1)} M trainable parameters, each with two Adam moments, twice): train fewer backbone blocks (--finetune)`,
        { cause: e },
      );
    }
  }

  /** The current value of a state tensor: in GPU memory once a WebGPU step has run, else the host's. */
  private tensor(name: string): ort.Tensor {
    return this.onDevice.get(name) ?? new ort.Tensor('float32', this.state.get(name)!, this.shapes.get(name)!);
  }
  /** Where the training state is between steps: 'gpu-buffer' once a WebGPU step has run. */
  get stateLocation(): ort.Tensor.DataLocation {
    return this.onDevice.get(this.stateOutputs[0]!)?.location ?? 'cpu';
  }
  private get onGpu(): boolean {
    return this.device.device === 'webgpu';
  }

  private checkBatch(b: Batch): number {
    const want = this.inputShape.join('×');
    if (b.shape.slice(1).join('×') !== want || b.data.length !== b.shape.reduce((p, d) => p * d, 1)) {
      throw new Error(`training batch of shape ${b.shape.join('×')}: the trainable part takes N×${want}`);
    }
    return b.shape[0]!;
  }

  /**
   * One optimisation step on a batch. `labels`: class indices, or soft targets (N × classes).
   * `seed` draws this step's dropout masks; runs derive it from (run seed, phase, epoch, step) so
   * a resumed run draws the same masks as an unbroken one. `masks` (by mask input name) replaces
   * drawn masks (tests that compare with another framework's fixed masks).
   */
  async step(
    batch: Batch,
    labels: Int32Array | Float32Array[],
    seed = (this.opts.seed ?? 0) + this.steps++,
    masks?: Record<string, Float32Array>,
  ): Promise<StepResult> {
    const n = this.checkBatch(batch);
    const classes = this.config.head.classes.length;
    const targets = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      if (Array.isArray(labels)) targets.set(labels[i]!, i * classes);
      else targets[i * classes + labels[i]!] = 1;
    }
    const t = this.iterations + 1;
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', batch.data, batch.shape),
      targets: new ort.Tensor('float32', targets, [n, classes]),
      class_weights: new ort.Tensor('float32', this.classWeights, [classes]),
      step_size: new ort.Tensor('float32', Float32Array.of(adamStepSize(this.learningRate, t)), []),
      ...dropoutMasks(this.graph.masks, n, seed),
    };
    for (const [name, data] of Object.entries(masks ?? {})) {
      if (!feeds[name]) throw new Error(`mask ${name}: the step graph has no such input`);
      feeds[name] = new ort.Tensor('float32', data, feeds[name].dims);
    }
    for (const name of this.stepSession.inputNames) if (!feeds[name]) feeds[name] = this.tensor(name);
    const out = this.onGpu ? await this.stepOnGpu(feeds) : await this.stepOnCpu(feeds);
    this.iterations = t;
    let grads: Weights | undefined;
    if (this.opts.exposeGrads) {
      grads = new Map(
        this.graph.params.map((p) => [p, { shape: this.shapes.get(p)!, data: out[`grad/${p}`]!.data as Float32Array }]),
      );
    }
    const scalar = (k: string) => (out[k]!.data as Float32Array)[0]!;
    return { loss: scalar('loss'), correct: scalar('correct'), gradNorm: scalar('grad_norm'), grads };
  }

  /** The new state is written into the spare set of buffers, which then becomes the current one: no allocation and no copy per step. */
  private async stepOnCpu(feeds: Record<string, ort.Tensor>) {
    const fetches: Record<string, ort.Tensor> = {};
    for (const name of this.stateOutputs) {
      let spare = this.spare.get(name);
      if (!spare) this.spare.set(name, (spare = new Float32Array(this.state.get(name)!.length)));
      fetches[`new/${name}`] = new ort.Tensor('float32', spare, this.shapes.get(name)!);
    }
    const out = await this.runNamed(this.stepSession, feeds, 'training step', fetches);
    for (const name of this.stateOutputs) {
      const cur = this.state.get(name)!;
      this.state.set(name, this.spare.get(name)!);
      this.spare.set(name, cur);
    }
    return out;
  }

  /** The new state stays in GPU memory (the session's gpuOutputs) and replaces the old, which is freed. */
  private async stepOnGpu(feeds: Record<string, ort.Tensor>) {
    const out = await this.runNamed(this.stepSession, feeds, 'training step');
    for (const name of this.stateOutputs) {
      this.onDevice.get(name)?.dispose();
      this.onDevice.set(name, out[`new/${name}`]!);
    }
    this.hostCurrent = false;
    return out;
  }

  /** Brings the GPU-resident state to the host copy (one run of a copy graph on the same provider). */
  private async syncHost(): Promise<void> {
    if (this.hostCurrent) return;
    this.copySession ??= await createSession(
      buildCopyGraph(this.stateOutputs.map((name) => ({ name, shape: this.shapes.get(name)! }))),
      { device: 'webgpu' },
    );
    const feeds = Object.fromEntries(this.stateOutputs.map((n) => [n, this.tensor(n)]));
    const out = await this.runNamed(this.copySession, feeds, 'copying the training state from the GPU');
    for (const n of this.stateOutputs) this.state.get(n)!.set(out[`${n}:host`]!.data as Float32Array);
    this.hostCurrent = true;
  }

  /** After the host copy changed: the next step uploads it. */
  private dropDeviceCopy(names: Iterable<string>): void {
    for (const n of names) {
      this.onDevice.get(n)?.dispose();
      this.onDevice.delete(n);
    }
  }

  /** Inference-mode logits and embeddings (dropout off, BatchNorm moving statistics). */
  async predict(batch: Batch): Promise<{ logits: Float32Array; embedding: Float32Array }> {
    this.checkBatch(batch);
    const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', batch.data, batch.shape) };
    for (const name of this.evalSession.inputNames) if (!feeds[name]) feeds[name] = this.tensor(name);
    const out = await this.runNamed(this.evalSession, feeds, 'validation');
    return { logits: out.logits!.data as Float32Array, embedding: out.embedding!.data as Float32Array };
  }

  private async runNamed(s: Session, feeds: Record<string, ort.Tensor>, what: string, fetches?: Record<string, ort.Tensor>) {
    try {
      if (!fetches) return await s.run(feeds);
      // Outputs not pre-allocated (loss, counts, gradients) are fetched too, allocated by ORT.
      const all: Record<string, ort.Tensor | null> = { ...fetches };
      for (const name of s.outputNames) if (!(name in all)) all[name] = null;
      return await s.run(feeds, all as ort.InferenceSession.FetchesType);
    } catch (e) {
      const shapes = Object.entries(feeds)
        .filter(([k]) => !this.state.has(k))
        .map(([k, v]) => `${k} ${v.dims.join('×')}`)
        .join(', ');
      const msg = (e as Error).message;
      const oom = /alloc|memory/i.test(msg) ? ' — out of memory: lower --batch-size or train fewer blocks (--finetune)' : '';
      throw new Error(`${what} failed on ONNX Runtime (${shapes}): ${msg}${oom}`, { cause: e });
    }
  }

  /** The trainable part's current parameters and running statistics. */
  async weights(): Promise<Weights> {
    await this.syncHost();
    const out: Weights = new Map();
    for (const [name, shape] of this.shapes) {
      if (name.startsWith('m/') || name.startsWith('v/')) continue;
      out.set(name, { shape: [...shape], data: Float32Array.from(this.state.get(name)!) });
    }
    return out;
  }
  async setWeights(w: Weights): Promise<void> {
    await this.syncHost();
    for (const [name, t] of w) {
      const cur = this.state.get(name);
      if (!cur || cur.length !== t.data.length) throw new Error(`weights: ${name} does not fit the trainable part`);
      cur.set(t.data);
    }
    this.dropDeviceCopy(w.keys());
  }

  /** Adam's state as a weight map (saved with resumable runs): `iterations`, `m/<name>`, `v/<name>`. */
  async optimizerState(): Promise<Weights> {
    await this.syncHost();
    const out: Weights = new Map([['iterations', { shape: [], data: Float32Array.of(this.iterations) }]]);
    for (const p of this.graph.params)
      for (const slot of ['m', 'v'])
        out.set(`${slot}/${p}`, { shape: [...this.shapes.get(p)!], data: Float32Array.from(this.state.get(`${slot}/${p}`)!) });
    return out;
  }
  async setOptimizerState(state: Weights): Promise<void> {
    await this.syncHost();
    const get = (k: string) => {
      const w = state.get(k);
      if (!w) throw new Error(`optimizer state lacks "${k}" (saved by another convcut version?); start the run afresh`);
      return w;
    };
    this.iterations = get('iterations').data[0]!;
    for (const p of this.graph.params)
      for (const slot of ['m', 'v']) {
        this.state.get(`${slot}/${p}`)!.set(get(`${slot}/${p}`).data);
        this.dropDeviceCopy([`${slot}/${p}`]);
      }
  }

  async dispose(): Promise<void> {
    this.dropDeviceCopy([...this.onDevice.keys()]);
    await Promise.all([this.stepSession.release(), this.evalSession.release(), this.copySession?.release()]);
  }
}

/** State the step graph outputs a new value of: parameters, their moments, running statistics. */
function stateNames(graph: StepGraph): string[] {
  return [...graph.params.flatMap((p) => [p, `m/${p}`, `v/${p}`]), ...graph.stats];
}

/** keep/(1 − rate) masks for one step, drawn in mask order from the step's seed. */
export function dropoutMasks(masks: MaskSpec[], n: number, seed: number): Record<string, ort.Tensor> {
  const rng = new Rng(seed);
  const out: Record<string, ort.Tensor> = {};
  for (const m of masks) {
    const shape = [n, ...m.shape.slice(1)];
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const keep = Math.fround(1 / (1 - m.rate));
    for (let i = 0; i < data.length; i++) data[i] = rng.next() >= m.rate ? keep : 0;
    out[m.name] = new ort.Tensor('float32', data, shape);
  }
  return out;
}
