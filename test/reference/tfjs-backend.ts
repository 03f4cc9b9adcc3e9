/**
 * TensorFlow.js set-up for Node, for the references convcut is tested and benchmarked against
 * (face-api's and Human's own code): convcut itself runs everything on ONNX Runtime. The `wasm`
 * backend (SIMD, and one XNNPACK thread per core through `wasm-threads.ts`, 1.33× faster detection:
 * BENCHMARKS.md, so the baseline is face-api at its best) by default, `cpu` as a fallback.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { defaultWasmThreads, prepareThreadedWasm } from './wasm-threads.js';

export type TfBackend = 'wasm' | 'cpu' | 'webgpu';

export interface TfOptions {
  /** XNNPACK threads for `wasm` (default: `defaultWasmThreads()`; 1 = tfjs' stock single-thread binary). */
  threads?: number;
}

let ready: Promise<TfBackend> | undefined;

export function initTf(backend: TfBackend = 'wasm', opts: TfOptions = {}): Promise<TfBackend> {
  ready ??= (async () => {
    if (backend === 'wasm') {
      const require = createRequire(import.meta.url);
      const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      setWasmPaths(dir + path.sep);
      const threads = opts.threads ?? defaultWasmThreads();
      let restore: ((started: boolean) => void) | undefined;
      if (threads > 1) {
        try {
          restore = await prepareThreadedWasm(threads);
        } catch (e) {
          // E.g. a read-only temp folder: the worker script cannot be written. One thread still works.
          console.error(`convcut: tfjs' multi-threaded wasm cannot start (${(e as Error).message}); using one thread`);
        }
      }
      if (restore) {
        let started = false;
        try {
          started = await tf.setBackend('wasm');
          if (started) {
            await tf.ready();
            unrefPthreads();
            return 'wasm';
          }
        } finally {
          restore(started);
        }
        // The threaded binary failed to start: the single-thread one below.
      }
    }
    if (await tf.setBackend(backend)) {
      await tf.ready();
      return backend;
    }
    // wasm can fail where WebAssembly SIMD is unavailable; the pure-JS cpu backend always works (slowly).
    if (backend === 'wasm' && (await tf.setBackend('cpu'))) {
      console.error(
        'convcut: the TensorFlow.js wasm backend failed to start; training falls back to the (much slower) cpu backend',
      );
      await tf.ready();
      return 'cpu';
    }
    throw new Error(`TensorFlow.js backend "${backend}" failed to start`);
  })();
  return ready;
}

/**
 * Emscripten ref()s a worker while its pthread runs, and XNNPACK's pool threads run for the life of
 * the module, so they would keep Node alive after the program's work is done. They only ever do
 * work the main thread is waiting for, so they need not hold the process open.
 */
function unrefPthreads(): void {
  const pthread = (tf.backend() as unknown as { wasm?: { PThread?: { runningWorkers: { unref(): void }[] } } }).wasm?.PThread;
  for (const w of pthread?.runningWorkers ?? []) w.unref();
}

/** XNNPACK threads of the running wasm backend (1 for other backends). */
export function tfThreads(): number {
  return tf.getBackend() === 'wasm' ? getThreadsCount() : 1;
}

export { tf };
