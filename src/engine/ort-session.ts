/**
 * ONNX Runtime execution (onnxruntime-node): on the CPU, or on a GPU through its WebGPU execution
 * provider (device.ts). CPU defaults measured on the 2-core machine: both cores for intra-op
 * parallelism (elsewhere: every core this process may use), full graph optimisation (fuses the
 * LayerNorm, Gelu and MatMul+Add patterns the exporter writes). On WebGPU, the few nodes its
 * provider lacks (shape arithmetic, LogSoftmax) run on the CPU provider, which ORT adds itself.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { threadsFromEnv } from '../util/env.js';
import { resolveDevice, type DeviceChoice } from './device.js';

export interface SessionOptions {
  /** Intra-op threads (default: `CONVCUT_ORT_THREADS`, else every core this process may use). */
  threads?: number;
  /** Where a graph's external-data files are (a graph exported with `externalDir`). */
  externalDir?: string;
  /**
   * ORT's memory-pattern planning (default on). Training turns it off: for the step graphs it
   * costs memory (`--finetune 2` 623 → 462 MB peak, `--finetune all` 6.5 → 5.2 GB) and gives no
   * speed (bench/train-step.ts).
   */
  memPattern?: boolean;
  /**
   * Whether ONNX Runtime's idle threads spin, waiting for work (default true: fastest when the
   * model has the cores to itself). Video turns it off: there the face detectors (tfjs) and ffmpeg
   * need the cores between model runs: int8 end to end 11.08 → 12.05 and 11.25 → 11.35 frames/s in
   * two runs (BENCHMARKS.md, "Video end to end"), although each model run got slower.
   */
  spinning?: boolean;
  /** cpu, webgpu or auto (default: `CONVCUT_DEVICE`, else cpu). */
  device?: DeviceChoice;
  /**
   * Outputs ONNX Runtime leaves in GPU memory on WebGPU (`Tensor.location` 'gpu-buffer'), to be
   * fed to the next run without a round trip through the host; the others come back to the CPU.
   */
  gpuOutputs?: string[];
}

export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads ?? defaultOrtThreads(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableMemPattern: opts.memPattern ?? true,
  };
  const session: Record<string, unknown> = {};
  if (opts.externalDir !== undefined) session.model_external_initializers_file_folder_path = opts.externalDir;
  if (opts.spinning === false) session.intra_op = { allow_spinning: '0' };
  if (Object.keys(session).length) options.extra = { session };
  const { device } = await resolveDevice(opts.device);
  if (device === 'webgpu') {
    process.env.XDG_RUNTIME_DIR ||= os.tmpdir(); // Dawn's Vulkan setup wants one
    options.executionProviders = ['webgpu'];
    // Not its warning that shape arithmetic runs on the CPU provider: ORT does that on purpose.
    options.logSeverityLevel = 3;
    if (opts.gpuOutputs?.length)
      options.preferredOutputLocation = Object.fromEntries(opts.gpuOutputs.map((n) => [n, 'gpu-buffer' as const]));
  }
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const msg = (e as Error).message;
    if (device === 'webgpu' && /WebGPU adapter/.test(msg))
      throw new Error(
        `--device webgpu: ONNX Runtime found no WebGPU adapter (${msg.split('\n')[0]!.replace(/^.*?: (?=Failed)/, '')})`,
        { cause: e },
      );
    throw e;
  }
}

/** Runs a one-node graph on ONNX Runtime's WebGPU provider: 'ok', or what went wrong. */
export async function checkWebGpu(): Promise<string> {
  const { OnnxGraph } = await import('./onnx-graph.js');
  const g = new OnnxGraph();
  const x = g.input('x', [4]);
  g.output('y', { name: g.node('Add', [x.name, x.name]), shape: [4] });
  try {
    const s = await createSession(g.encode('check'), { device: 'webgpu' });
    const y = (await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) })).y!.data as Float32Array;
    await s.release();
    return y.join() === '2,4,6,8' ? 'ok' : `wrong result (${y.join()})`;
  } catch (e) {
    return `failed: ${(e as Error).message.split('\n')[0]}`;
  }
}

export function defaultOrtThreads(): number {
  return threadsFromEnv('CONVCUT_ORT_THREADS') ?? os.availableParallelism();
}

export interface NamedArray {
  data: Float32Array;
  shape: number[];
}

export async function runSession(session: ort.InferenceSession, input: NamedArray): Promise<Record<string, NamedArray>> {
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.shape) };
  const result = await session.run(feeds);
  const out: Record<string, NamedArray> = {};
  for (const [k, v] of Object.entries(result)) {
    out[k] = { data: v.data as Float32Array, shape: [...v.dims] };
    v.dispose?.();
  }
  return out;
}

export { ort };
