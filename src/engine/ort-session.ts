/**
 * ONNX Runtime execution (onnxruntime-node, CPU). Defaults measured on the 2-core machine: both
 * cores for intra-op parallelism (elsewhere: every core this process may use), full graph
 * optimisation (fuses the LayerNorm, Gelu and MatMul+Add patterns the exporter writes).
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { threadsFromEnv } from '../util/env.js';

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
}

export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads ?? defaultOrtThreads(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableMemPattern: opts.memPattern ?? true,
  };
  if (opts.externalDir !== undefined)
    options.extra = { session: { model_external_initializers_file_folder_path: opts.externalDir } };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
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
