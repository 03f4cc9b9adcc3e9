/**
 * TensorFlow.js set-up for Node: the `wasm` backend (SIMD; one thread in Node) by default, `cpu` as
 * a fallback. `@tensorflow/tfjs` (not tfjs-core alone) is imported because it registers the
 * gradients training needs.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type TfBackend = 'wasm' | 'cpu' | 'webgpu';

let ready: Promise<TfBackend> | undefined;

export function initTf(backend: TfBackend = 'wasm'): Promise<TfBackend> {
  ready ??= (async () => {
    if (backend === 'wasm') {
      const require = createRequire(import.meta.url);
      const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      setWasmPaths(dir + path.sep);
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

export { tf };
